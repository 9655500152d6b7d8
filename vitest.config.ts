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
    // Node loads graphql's CommonJS build (graphql 16 has no "exports"; Node ignores "module"), so do the
    // same for test code: otherwise a test that hands our schema to graphql-yoga or graphql-ws (loaded by
    // Node) mixes the two builds, and graphql refuses a schema "from another module or realm".
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
});
