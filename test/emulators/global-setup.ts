import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal } from './dynamodb-local.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** http://127.0.0.1:<port> of the DynamoDB Local started for this run. */
    dynamodbEndpoint: string;
  }
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/**
 * Starts one DynamoDB Local for the whole run; test files read its endpoint with
 * `inject('dynamodbEndpoint')` and each creates its own table under a random name.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dynamodb = await startDynamoDbLocal();
  const { downloadMs, compileMs, launchMs } = dynamodb.timings;
  if (downloadMs !== null || compileMs !== null) {
    // Only a first run (or one after the launcher changed) says anything.
    console.log(
      `DynamoDB Local prepared in the cache: download ${downloadMs === null ? 'cached' : seconds(downloadMs)}, ` +
        `launcher compile ${compileMs === null ? 'cached' : seconds(compileMs)}, start ${seconds(launchMs)}`,
    );
  }
  project.provide('dynamodbEndpoint', dynamodb.endpoint);
  return () => dynamodb.stop();
}
