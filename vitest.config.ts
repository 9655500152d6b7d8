import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One DynamoDB Local (on 127.0.0.1) for the run; test files get its endpoint with inject('dynamodbEndpoint').
    globalSetup: ['test/emulators/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // The e2e and crash suites start servers and child processes; two cores are shared with them.
    maxWorkers: 2,
  },
});
