// util.appendError through the local AppSync: the field's data stands and the appended errors join
// `errors`, with the field's path, in process (the publisher's path), over HTTP and over WebSocket.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalAppSync } from '../../src/appsync/local-appsync.ts';
import { FsBlobStore } from '../../src/adapters/local/fs-blob-store.ts';
import { REPO_ROOT } from '../../src/local/runtime.ts';
import { startServer } from '../../src/local/server.ts';
import { recordingLogger } from '../helpers/contract-fixtures.ts';

const API_KEY = 'append-error-test-key-0123456789';
const STATS = { queued: 1, running: 0, retrying: 0, succeeded: 2, failed: 0, cancelled: 0, total: 3 };

/** The Lambda resolver of this repository, but appending errors as a resolver may (by argument-free mode). */
const APPENDING_LAMBDA_RESOLVER = `
import { util } from '@aws-appsync/utils';
export function request(ctx) {
  util.appendError('stats may be stale', 'StaleData', { age: 5 }, { source: 'request' });
  return { operation: 'Invoke', payload: { fieldName: ctx.info.fieldName } };
}
export function response(ctx) {
  util.appendError('second warning');
  if (ctx.result.fail) util.error('the data source said no', 'Refused');
  return ctx.result.data;
}
`;

let root: string;
let appsync: LocalAppSync;
let lambdaAnswer: { data?: unknown; fail?: boolean };
let lambdaCalls = 0;
let server: Awaited<ReturnType<typeof startServer>>;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'append-error-'));
  cpSync(join(REPO_ROOT, 'schema.graphql'), join(root, 'schema.graphql'));
  cpSync(
    join(REPO_ROOT, 'src/appsync/appsync-declarations.graphql'),
    join(root, 'src/appsync/appsync-declarations.graphql'),
  );
  cpSync(join(REPO_ROOT, 'resolvers'), join(root, 'resolvers'), { recursive: true });
  // The resolvers share the domain's task id pattern.
  cpSync(join(REPO_ROOT, 'src/domain/task-id.ts'), join(root, 'src/domain/task-id.ts'));
  writeFileSync(join(root, 'resolvers/invoke-api-lambda.ts'), APPENDING_LAMBDA_RESOLVER);
  appsync = await LocalAppSync.create({
    repoRoot: root,
    logger: recordingLogger(),
    dataSources: {
      API_LAMBDA: async () => {
        lambdaCalls += 1;
        return { result: lambdaAnswer };
      },
      TASKS_TABLE: async () => ({ error: { message: 'not in this test', type: 'Test' } }),
    },
  });
  server = await startServer({
    appsync,
    blobs: new FsBlobStore(join(root, 'data'), { baseUrl: () => 'http://127.0.0.1/blobs' }),
    apiKey: API_KEY,
    host: '127.0.0.1',
    port: 0,
    logger: recordingLogger(),
  });
});

afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

const APPENDED = [
  {
    path: ['queueStats'],
    data: { age: 5 },
    errorType: 'StaleData',
    errorInfo: { source: 'request' },
    locations: [{ line: 1, column: 3, sourceName: null }],
    message: 'stats may be stale',
  },
  {
    path: ['queueStats'],
    data: null,
    errorType: 'Unknown',
    errorInfo: null,
    locations: [{ line: 1, column: 3, sourceName: null }],
    message: 'second warning',
  },
];

const TASK_ID = '01a2208d-f794-70d4-b09e-34f1f7b74890';

/** Runs publishTaskUpdate as the update publisher does (IAM), for the test task in `status`. */
async function publish(status: string): Promise<void> {
  const result = await appsync.execute(
    'mutation ($input: TaskUpdateInput!) { publishTaskUpdate(input: $input) { id status } }',
    { input: { ...TASK_UPDATE, status } },
    { auth: { mode: 'AWS_IAM' }, headers: {} },
  );
  if (!result.data?.['publishTaskUpdate']) throw new Error(JSON.stringify(result.errors));
}

const TASK_UPDATE = {
  id: TASK_ID,
  type: 'PROCESS_DATA',
  status: 'RUNNING',
  progress: 0,
  attempts: 1,
  maxAttempts: 3,
  timeoutSeconds: 60,
  version: 2,
  createdAt: '2030-01-01T12:00:00.000Z',
  updatedAt: '2030-01-01T12:00:01.000Z',
  runAt: '2030-01-01T12:00:00.000Z',
  cancelRequested: false,
};

describe('util.appendError', () => {
  it('keeps the data and adds the errors with the field path, in process', async () => {
    lambdaAnswer = { data: STATS };
    const result = await appsync.execute(
      '{ queueStats { total } }',
      {},
      { auth: { mode: 'API_KEY' }, headers: {} },
    );

    expect(result.data).toEqual({ queueStats: { total: 3 } });
    expect(result.errors?.map((e) => [e.message, e.path, e.extensions['errorType']])).toEqual([
      ['stats may be stale', ['queueStats'], 'StaleData'],
      ['second warning', ['queueStats'], 'Unknown'],
    ]);
  });

  it('is answered over HTTP in AppSync error shape, after the data', async () => {
    lambdaAnswer = { data: STATS };
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
      body: JSON.stringify({ query: '{ queueStats { total } }' }),
    });

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { queueStats: { total: 3 } }, errors: APPENDED });
  });

  it('is answered over WebSocket the same way', async () => {
    lambdaAnswer = { data: STATS };
    const client = createClient({
      url: server.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { 'x-api-key': API_KEY },
      retryAttempts: 0,
    });
    try {
      const result = await new Promise<unknown>((resolve, reject) => {
        let last: unknown;
        client.subscribe(
          { query: '{ queueStats { total } }' },
          { next: (r) => (last = r), error: reject, complete: () => resolve(last) },
        );
      });
      expect(result).toEqual({ data: { queueStats: { total: 3 } }, errors: APPENDED });
    } finally {
      await client.dispose();
    }
  });

  it('runs no nested resolver for subscription events: a field the mutation left out is null, with no errors', async () => {
    // Task.outputs has the appending Lambda resolver. On AppSync an event is the publishing mutation's
    // response, so outputs (which the publisher does not select) arrives as null and nothing runs.
    lambdaAnswer = { data: [] };
    const callsBefore = lambdaCalls;
    const subscribersBefore = appsync.hub.size;
    const query = `subscription { onTaskUpdated(id: "${TASK_ID}") { id status outputs { key } } }`;
    const overWs: unknown[] = [];
    const client = createClient({
      url: server.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { 'x-api-key': API_KEY },
      retryAttempts: 0,
    });
    const unsubscribe = client.subscribe(
      { query },
      { next: (event) => void overWs.push(event), error: () => undefined, complete: () => undefined },
    );
    // The same subscription over SSE (yoga's path for GraphiQL).
    const sse = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'x-api-key': API_KEY },
      body: JSON.stringify({ query }),
    });
    const reader = sse.body!.getReader();
    let sseText = '';
    try {
      // Both subscriptions are registered before anything is published.
      const registered = Date.now() + 10_000;
      while (appsync.hub.size < subscribersBefore + 2 && Date.now() < registered)
        await new Promise((r) => setTimeout(r, 10));
      expect(appsync.hub.size).toBe(subscribersBefore + 2);
      for (const status of ['RUNNING', 'SUCCEEDED']) await publish(status);
      const deadline = Date.now() + 10_000;
      while ((overWs.length < 2 || (sseText.match(/^data:/gm) ?? []).length < 2) && Date.now() < deadline) {
        const chunk = await Promise.race([
          reader.read(),
          new Promise<{ value?: undefined }>((r) => setTimeout(() => r({}), 100)),
        ]);
        if (chunk.value) sseText += new TextDecoder().decode(chunk.value);
      }
    } finally {
      unsubscribe();
      await client.dispose();
      await reader.cancel();
    }
    const sseEvents = sseText
      .split('\n')
      .filter((line) => line.startsWith('data:'))
      .map((line) => JSON.parse(line.slice(5)) as unknown);
    for (const events of [overWs, sseEvents]) {
      expect(events).toEqual([
        { data: { onTaskUpdated: { id: TASK_ID, status: 'RUNNING', outputs: null } } },
        { data: { onTaskUpdated: { id: TASK_ID, status: 'SUCCEEDED', outputs: null } } },
      ]);
    }
    expect(lambdaCalls).toBe(callsBefore);
  });

  it('still reports what was appended when a handler then raises an error', async () => {
    lambdaAnswer = { fail: true };
    const result = await appsync.execute(
      '{ queueStats { total } }',
      {},
      { auth: { mode: 'API_KEY' }, headers: {} },
    );

    expect(result.data).toBeNull();
    expect(result.errors?.map((e) => e.message)).toEqual([
      'the data source said no',
      'stats may be stale',
      'second warning',
    ]);
  });

  it('adds nothing to a result whose resolvers appended nothing', async () => {
    const result = await appsync.execute(
      'mutation ($input: TaskUpdateInput!) { publishTaskUpdate(input: $input) { id } }',
      { input: TASK_UPDATE },
      { auth: { mode: 'AWS_IAM' }, headers: {} },
    );
    expect(result).toEqual({ data: { publishTaskUpdate: { id: TASK_ID } } });
  });
});
