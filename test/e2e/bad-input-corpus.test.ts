// The bad-input corpus: every way a client can get a request wrong, against one real runtime process.
// Each case checks the error (type or code, and the HTTP status where the error is at request level),
// that its message says what to fix, that nothing was stored, and that the server answers right after.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { getIntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/domain/limits.ts';
import {
  startRuntime,
  tempDataDir,
  waitFor,
  TEST_API_KEY,
  type RuntimeProcess,
} from '../helpers/runtime-process.ts';

let rt: RuntimeProcess;
let dataDir: string;

beforeAll(async () => {
  dataDir = tempDataDir();
  rt = await startRuntime(dataDir);
});

afterAll(async () => {
  await rt?.stop();
});

/** What a case produced: the first error's type (or a task's error code, or a WebSocket close code). */
interface Outcome {
  status?: number;
  errorType?: string;
  message?: string;
  data?: unknown;
}

interface Case {
  name: string;
  send: () => Promise<Outcome>;
  /** HTTP status, for errors at request level (GraphQL errors are HTTP 200, as on AppSync). */
  status?: number;
  /** errorType, task error code, or `close <code>` for a WebSocket the server closed. */
  errorType: string | undefined;
  message?: RegExp;
  /** For the few cases that are answered, not refused: what the answer holds. */
  data?: unknown;
  /** Tasks the case leaves behind, all FAILED (the task-level cases); 0 for every other case. */
  failedTasks?: number;
}

// ---- how cases are sent --------------------------------------------------------------------------

type GraphQLBody = { data?: unknown; errors?: Array<{ errorType?: string; message?: string }> };

function outcomeOf(status: number, body: GraphQLBody): Outcome {
  const first = body.errors?.[0];
  return { status, errorType: first?.errorType, message: first?.message, data: body.data };
}

/** POSTs a GraphQL request with the test API key (or `apiKey`; null sends no key). */
function gql(
  query: string,
  variables?: Record<string, unknown>,
  apiKey: string | null = TEST_API_KEY,
): () => Promise<Outcome> {
  return async () => {
    const { status, body } = await rt.gql(query, variables, { apiKey });
    return outcomeOf(status, body as GraphQLBody);
  };
}

/** POSTs a body as given: for bodies that are not JSON, or too deep for JSON.stringify in this process. */
function post(
  body: string | ReadableStream<Uint8Array>,
  contentLength = true,
  contentType = 'application/json',
): () => Promise<Outcome> {
  return async () => {
    const response = await fetch(rt.url, {
      method: 'POST',
      headers: { 'content-type': contentType, 'x-api-key': TEST_API_KEY },
      body,
      ...(contentLength ? {} : { duplex: 'half' }),
    } as RequestInit);
    return outcomeOf(response.status, (await response.json()) as GraphQLBody);
  };
}

/** Runs one operation over graphql-ws; a refused connection or operation comes back as its error. */
function overWebSocket(
  query: string,
  variables?: Record<string, unknown>,
  apiKey = TEST_API_KEY,
): () => Promise<Outcome> {
  return async () => {
    const client = rt.ws(apiKey);
    try {
      const settled = await new Promise<unknown>((resolve) => {
        let last: unknown;
        client.subscribe(
          { query, ...(variables ? { variables } : {}) },
          { next: (m) => (last = m), error: resolve, complete: () => resolve(last) },
        );
      });
      if (Array.isArray(settled)) return outcomeOf(200, { errors: settled });
      if (settled && typeof settled === 'object' && 'code' in settled) {
        const close = settled as { code: number; reason: string };
        return { errorType: `close ${close.code}`, message: close.reason };
      }
      return outcomeOf(200, settled as GraphQLBody);
    } finally {
      await client.dispose();
    }
  };
}

/** A deeply nested JSON text: `[[[…]]]`. */
const nested = (levels: number): string => '['.repeat(levels) + ']'.repeat(levels);

const SUBMIT = 'mutation ($input: SubmitTaskInput!) { submitTask(input: $input) { id } }';
const SUBMIT_MANY = 'mutation ($inputs: [SubmitTaskInput!]!) { submitTasks(inputs: $inputs) { id } }';
const submit = (input: Record<string, unknown>) => gql(SUBMIT, { input });
const EMPTY_DATA = '{"records":[]}';
/** A valid input with one field changed. */
const withField = (field: string, value: unknown) =>
  submit({ type: 'PROCESS_DATA', payload: EMPTY_DATA, [field]: value });
const payloadOf = (type: string, payload: unknown) =>
  submit({ type, payload: typeof payload === 'string' ? payload : JSON.stringify(payload) });

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';
const PUBLISH =
  'mutation { publishTaskUpdate(input: { id: "x", type: PROCESS_DATA, status: QUEUED, attempts: 0, maxAttempts: 1, timeoutSeconds: 1, version: 1, createdAt: "2026-01-01T00:00:00Z", updatedAt: "2026-01-01T00:00:00Z", runAt: "2026-01-01T00:00:00Z", cancelRequested: false }) { id } }';

const aliases = (n: number) =>
  `{ ${Array.from({ length: n }, (_, i) => `a${i}: queueStats { total }`).join(' ')} }`;
/** An introspection query `levels` fields deep (ofType chains are the schema's only unbounded nesting). */
const deepQuery = (levels: number) =>
  `{ __type(name: "Task") { ${'ofType { '.repeat(levels - 2)}name${' }'.repeat(levels - 2)} } }`;

// ---- uploads and task-level cases ----------------------------------------------------------------

async function createUpload(contentType: string, fileName: string) {
  const { body } = await rt.gql<{ createUploadUrl: { key: string; url: string } }>(
    'mutation ($ct: String!, $fn: String) { createUploadUrl(contentType: $ct, fileName: $fn) { key url } }',
    { ct: contentType, fn: fileName },
  );
  return body.data!.createUploadUrl;
}

/** A PNG whose header claims `width` × `height` pixels while its data holds almost nothing. */
function pngClaiming(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const typed = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(typed));
    return Buffer.concat([length, typed, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, adaptive filtering, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.alloc(4))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * Uploads `bytes` as an image, submits IMAGE_RESIZE on it and waits for the task to fail. The outcome is
 * the task's error; the task must have written nothing (no outputs, no blobs under its output prefix).
 */
function resizeOf(bytes: Buffer): () => Promise<Outcome> {
  return async () => {
    const upload = await createUpload('image/png', 'input.png');
    const put = await fetch(upload.url, {
      method: 'PUT',
      headers: { 'content-type': 'image/png' },
      body: new Uint8Array(bytes),
    });
    expect(put.status).toBe(200);
    const submitted = await rt.gql<{ submitTask: { id: string } }>(SUBMIT, {
      input: { type: 'IMAGE_RESIZE', payload: JSON.stringify({ image: upload.key, size: '100x100' }) },
    });
    const id = submitted.body.data!.submitTask.id;
    const task = await waitFor(async () => {
      const { body } = await rt.gql<{
        task: { status: string; outputs: unknown; error: { code: string; message: string } | null };
      }>('query ($id: ID!) { task(id: $id) { status outputs { key } error { code message } } }', { id });
      return body.data?.task?.status === 'FAILED' ? body.data.task : null;
    }, `task ${id} to fail`);
    expect(task!.outputs).toBeNull();
    expect(existsSync(join(dataDir, 'blobs', 'outputs', id))).toBe(false);
    return { errorType: task!.error?.code, message: task!.error?.message };
  };
}

// ---- the corpus ----------------------------------------------------------------------------------

const syntaxAndValidation: Case[] = [
  {
    name: 'a document that ends mid-way',
    send: gql('mutation { submitTask(input: {'),
    errorType: 'InvalidSyntax',
    message: /Syntax Error: Expected Name, found <EOF>/,
  },
  {
    name: 'an unknown root field',
    send: gql('{ nope }'),
    errorType: 'ValidationError',
    message: /Cannot query field "nope" on type "Query"/,
  },
  {
    name: 'an unknown field of a type',
    send: gql('{ queueStats { total pending } }'),
    errorType: 'ValidationError',
    message: /Cannot query field "pending" on type "QueueStats"/,
  },
  {
    name: 'a required argument left out',
    send: gql('{ task { id } }'),
    errorType: 'ValidationError',
    message: /argument "id" of type "ID!" is required/,
  },
  {
    name: 'a selection on a scalar field',
    send: gql('{ queueStats { total { n } } }'),
    errorType: 'ValidationError',
    message: /Field "total" must not have a selection since type "Int!" has no subfields/,
  },
  {
    name: 'an object field without a selection',
    send: gql('{ queueStats }'),
    errorType: 'ValidationError',
    message: /Field "queueStats" of type "QueueStats!" must have a selection of subfields/,
  },
  {
    name: 'a variable that is not declared',
    send: gql('query { task(id: $id) { id } }'),
    errorType: 'ValidationError',
    message: /Variable "\$id" is not defined/,
  },
  {
    name: 'a variable of the wrong type',
    send: gql('query ($id: Int!) { task(id: $id) { id } }', { id: 1 }),
    errorType: 'ValidationError',
    message: /Variable "\$id" of type "Int!" used in position expecting type "ID!"/,
  },
  {
    name: 'a required variable not sent',
    send: gql('query ($id: ID!) { task(id: $id) { id } }'),
    errorType: 'ValidationError',
    message: /Variable "\$id" of required type "ID!" was not provided/,
  },
  {
    name: 'two operations and no operationName',
    send: gql('query A { queueStats { total } } query B { queueStats { queued } }'),
    errorType: 'ValidationError',
    message: /Could not determine what operation to execute.*operationName/,
  },
  {
    name: 'a body that is not JSON',
    send: post('meow'),
    status: 400,
    errorType: 'MalformedHttpRequestException',
    message: /POST body sent invalid JSON\. The body of a GraphQL request is a JSON object such as \{"query"/,
  },
  {
    name: 'a bare GraphQL document as a text/plain body',
    send: post('{ queueStats { total } }', true, 'text/plain'),
    status: 400,
    errorType: 'MalformedHttpRequestException',
    message: /invalid JSON\. The body of a GraphQL request is a JSON object such as \{"query"/,
  },
  {
    name: 'a bare GraphQL document as an application/graphql body',
    send: post('{ queueStats { total } }', true, 'application/graphql'),
    status: 400,
    errorType: 'MalformedHttpRequestException',
    message: /invalid JSON\. The body of a GraphQL request is a JSON object such as \{"query"/,
  },
  {
    name: 'an empty body',
    send: post(''),
    status: 400,
    errorType: 'MalformedHttpRequestException',
    message: /invalid JSON\. The body of a GraphQL request is/,
  },
  {
    name: 'a JSON body without a query',
    send: post('{"variables":{}}'),
    status: 400,
    errorType: 'MalformedHttpRequestException',
    message: /Must provide query string\. Put the operation in the "query" field of the body/,
  },
  {
    name: 'a batch of operations (a JSON array)',
    send: post('[{"query":"{ queueStats { total } }"},{"query":"{ queueStats { total } }"}]'),
    status: 400,
    errorType: 'MalformedHttpRequestException',
    message: /Batching is not supported\. Send one operation per request/,
  },
  {
    name: 'a query that is not a string',
    send: post('{"query":5}'),
    status: 400,
    errorType: 'MalformedHttpRequestException',
    message: /"query" param to be a string, but given number/,
  },
  {
    name: 'variables that are not an object',
    send: post('{"query":"{ queueStats { total } }","variables":"x"}'),
    status: 400,
    errorType: 'MalformedHttpRequestException',
    message: /"variables" param to be empty or an object, but given string/,
  },
  {
    name: 'a JSON body that is not an object',
    send: post('"{ queueStats { total } }"'),
    status: 400,
    errorType: 'MalformedHttpRequestException',
    message: /expected to be object but received string\. The body of a GraphQL request is a JSON object/,
  },
  {
    name: 'a syntax error over WebSocket',
    send: overWebSocket('subscription { onTaskUpdated('),
    errorType: 'InvalidSyntax',
    message: /Syntax Error/,
  },
  {
    name: 'an unknown subscription argument over WebSocket',
    send: overWebSocket('subscription { onTaskUpdated(owner: "me") { id } }'),
    errorType: 'ValidationError',
    message: /Unknown argument "owner" on field "Subscription.onTaskUpdated"/,
  },
];

const submitTaskInput: Case[] = [
  {
    name: 'type left out',
    send: gql('mutation { submitTask(input: { payload: "{}" }) { id } }'),
    errorType: 'ValidationError',
    message: /Field "SubmitTaskInput.type" of required type "TaskType!" was not provided/,
  },
  {
    name: 'type null',
    send: submit({ type: null, payload: EMPTY_DATA }),
    errorType: 'ValidationError',
    message: /"input.type"; Expected non-nullable type "TaskType!" not to be null/,
  },
  {
    name: 'type not a task type',
    send: submit({ type: 'RESIZE_VIDEO', payload: EMPTY_DATA }),
    errorType: 'ValidationError',
    message: /Value "RESIZE_VIDEO" does not exist in "TaskType" enum/,
  },
  {
    name: 'type as a string literal',
    send: gql('mutation { submitTask(input: { type: "PROCESS_DATA", payload: "{}" }) { id } }'),
    errorType: 'ValidationError',
    message: /Enum "TaskType" cannot represent non-enum value: "PROCESS_DATA"/,
  },
  {
    name: 'type a number',
    send: submit({ type: 5, payload: EMPTY_DATA }),
    errorType: 'ValidationError',
    message: /"input.type"; Enum "TaskType" cannot represent non-string value: 5/,
  },
  {
    name: 'payload left out',
    send: submit({ type: 'PROCESS_DATA' }),
    errorType: 'ValidationError',
    message: /Field "payload" of required type "AWSJSON!" was not provided/,
  },
  {
    name: 'payload null',
    send: submit({ type: 'PROCESS_DATA', payload: null }),
    errorType: 'ValidationError',
    message: /"input.payload"; Expected non-nullable type "AWSJSON!" not to be null/,
  },
  {
    name: 'payload an object instead of a JSON string',
    send: submit({ type: 'PROCESS_DATA', payload: { records: [] } }),
    errorType: 'ValidationError',
    message: /"input.payload"; .*an AWSJSON value must be a JSON string/,
  },
  {
    name: 'payload an object literal instead of a JSON string',
    send: gql('mutation { submitTask(input: { type: PROCESS_DATA, payload: { records: [] } }) { id } }'),
    errorType: 'ValidationError',
    message: /AWSJSON must be given as a string/,
  },
  {
    name: 'payload not valid JSON',
    send: submit({ type: 'PROCESS_DATA', payload: '{"records": [' }),
    errorType: 'ValidationError',
    message: /"input.payload"; .*not valid JSON/,
  },
  {
    name: 'payload the JSON null',
    send: submit({ type: 'PROCESS_DATA', payload: 'null' }),
    errorType: 'ValidationError',
    message: /input\.payload: is required/,
  },
  {
    name: 'payload a JSON array',
    send: submit({ type: 'PROCESS_DATA', payload: '[]' }),
    errorType: 'ValidationError',
    message: /input\.payload: .*expected object, received array/,
  },
  {
    name: 'idempotencyKey empty',
    send: withField('idempotencyKey', ''),
    errorType: 'ValidationError',
    message: /input\.idempotencyKey: must be 1 to 256 characters/,
  },
  {
    name: 'idempotencyKey of 257 characters',
    send: withField('idempotencyKey', 'k'.repeat(257)),
    errorType: 'ValidationError',
    message: /input\.idempotencyKey: must be 1 to 256 characters/,
  },
  {
    name: 'idempotencyKey a number',
    send: withField('idempotencyKey', 42),
    errorType: 'ValidationError',
    message: /"input.idempotencyKey"; String cannot represent a non string value: 42/,
  },
  {
    name: 'delaySeconds below 0',
    send: withField('delaySeconds', -1),
    errorType: 'ValidationError',
    message: /input\.delaySeconds: must be an integer from 0 to 900, got -1/,
  },
  {
    name: 'delaySeconds above 900',
    send: withField('delaySeconds', 901),
    errorType: 'ValidationError',
    message: /input\.delaySeconds: must be an integer from 0 to 900, got 901/,
  },
  {
    name: 'delaySeconds a fraction',
    send: withField('delaySeconds', 1.5),
    errorType: 'ValidationError',
    message: /"input.delaySeconds"; Int cannot represent non-integer value: 1.5/,
  },
  {
    name: 'delaySeconds a string',
    send: withField('delaySeconds', '5'),
    errorType: 'ValidationError',
    message: /"input.delaySeconds"; Int cannot represent non-integer value: "5"/,
  },
  {
    name: 'delaySeconds past 32 bits',
    send: withField('delaySeconds', 2 ** 31),
    errorType: 'ValidationError',
    message: /"input.delaySeconds"; Int cannot represent non 32-bit signed integer value: 2147483648/,
  },
  {
    name: 'maxAttempts 0',
    send: withField('maxAttempts', 0),
    errorType: 'ValidationError',
    message: /input\.maxAttempts: must be an integer from 1 to 25, got 0/,
  },
  {
    name: 'maxAttempts 26',
    send: withField('maxAttempts', 26),
    errorType: 'ValidationError',
    message: /input\.maxAttempts: must be an integer from 1 to 25, got 26/,
  },
  {
    name: 'maxAttempts a boolean',
    send: withField('maxAttempts', true),
    errorType: 'ValidationError',
    message: /"input.maxAttempts"; Int cannot represent non-integer value: true/,
  },
  {
    name: 'timeoutSeconds 0',
    send: withField('timeoutSeconds', 0),
    errorType: 'ValidationError',
    message: /input\.timeoutSeconds: must be an integer from 1 to 900, got 0/,
  },
  {
    name: 'timeoutSeconds 901',
    send: withField('timeoutSeconds', 901),
    errorType: 'ValidationError',
    message: /input\.timeoutSeconds: must be an integer from 1 to 900, got 901/,
  },
  {
    name: 'a field SubmitTaskInput does not have',
    send: withField('priority', 1),
    errorType: 'ValidationError',
    message: /Field "priority" is not defined by type "SubmitTaskInput"/,
  },
  {
    name: 'submitTasks with no tasks',
    send: gql(SUBMIT_MANY, { inputs: [] }),
    errorType: 'ValidationError',
    message: /inputs: must list at least one task/,
  },
  {
    name: 'submitTasks with 26 tasks',
    send: gql(SUBMIT_MANY, {
      inputs: Array.from({ length: 26 }, () => ({ type: 'PROCESS_DATA', payload: EMPTY_DATA })),
    }),
    errorType: 'ValidationError',
    message: /inputs: lists 26 tasks; at most 25 may be submitted in one call/,
  },
  {
    name: 'submitTasks with one bad task among good ones stores none of them',
    send: gql(SUBMIT_MANY, {
      inputs: [0, 0, 1000].map((delaySeconds) => ({
        type: 'PROCESS_DATA',
        payload: EMPTY_DATA,
        delaySeconds,
      })),
    }),
    errorType: 'ValidationError',
    message: /inputs\[2\]\.delaySeconds: must be an integer from 0 to 900, got 1000/,
  },
  {
    name: 'submitTasks with the same idempotencyKey twice',
    send: gql(SUBMIT_MANY, {
      inputs: [1, 2].map(() => ({ type: 'PROCESS_DATA', payload: EMPTY_DATA, idempotencyKey: 'same' })),
    }),
    errorType: 'ValidationError',
    message: /inputs\[1\]\.idempotencyKey: repeats the key of item 0/,
  },
];

const nestedRecord = (levels: number) => `{"records":[${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}]}`;

const taskPayloads: Case[] = [
  {
    name: 'PROCESS_DATA records not a list',
    send: payloadOf('PROCESS_DATA', { records: 5 }),
    errorType: 'ValidationError',
    message: /input\.payload\.records: .*expected array/,
  },
  {
    name: 'PROCESS_DATA with both records and input',
    send: payloadOf('PROCESS_DATA', { records: [], input: { key: 'uploads/a/b.csv', format: 'csv' } }),
    errorType: 'ValidationError',
    message: /Exactly one of records \(inline JSON records\) or input \(a blob to read\) is required/,
  },
  {
    name: 'PROCESS_DATA with an unknown operation',
    send: payloadOf('PROCESS_DATA', { records: [], operations: [{ op: 'explode' }] }),
    errorType: 'ValidationError',
    message: /input\.payload\.operations\.0\.op: .*Expected 'filter' \| 'select'/,
  },
  {
    name: 'PROCESS_DATA with a key it does not know',
    send: payloadOf('PROCESS_DATA', { records: [], extra: 1 }),
    errorType: 'ValidationError',
    message: /input\.payload: Unrecognized key: "extra"/,
  },
  {
    name: 'PROCESS_DATA with a record nested 65 levels (its own limit is 64)',
    send: payloadOf('PROCESS_DATA', nestedRecord(65)),
    errorType: 'ValidationError',
    message: /input\.payload\.records\.0(\.a){64}: Nested more than 64 levels deep/,
  },
  {
    name: 'PROCESS_DATA with 51 operations',
    send: payloadOf('PROCESS_DATA', {
      records: [],
      operations: Array.from({ length: 51 }, () => ({ op: 'limit', count: 1 })),
    }),
    errorType: 'ValidationError',
    message: /input\.payload\.operations: At most 50 operations are allowed/,
  },
  {
    name: 'PROCESS_DATA input key climbing out of the store',
    send: payloadOf('PROCESS_DATA', { input: { key: '../../api-key', format: 'csv' } }),
    errorType: 'ValidationError',
    message: /input\.payload\.input\.key: The blob key must not contain empty, "\." or "\.\." segments/,
  },
  {
    name: 'PROCESS_DATA limit with a negative count',
    send: payloadOf('PROCESS_DATA', { records: [], operations: [{ op: 'limit', count: -1 }] }),
    errorType: 'ValidationError',
    message: /input\.payload\.operations\.0\.count: count must be a non-negative integer/,
  },
  {
    name: 'IMAGE_RESIZE without an image',
    send: payloadOf('IMAGE_RESIZE', { size: '10x10' }),
    errorType: 'ValidationError',
    message: /input\.payload\.image: .*expected string, received undefined/,
  },
  {
    name: 'IMAGE_RESIZE size that is not WIDTHxHEIGHT',
    send: payloadOf('IMAGE_RESIZE', { image: 'uploads/a/b.png', size: 'big' }),
    errorType: 'ValidationError',
    message: /input\.payload\.size: must be WIDTHxHEIGHT in pixels, e\.g\. "800x600"/,
  },
  {
    name: 'IMAGE_RESIZE size over 8192',
    send: payloadOf('IMAGE_RESIZE', { image: 'uploads/a/b.png', size: '9000x10' }),
    errorType: 'ValidationError',
    message: /input\.payload\.size: width and height must be from 1 to 8192/,
  },
  {
    name: 'IMAGE_RESIZE with both size and sizes',
    send: payloadOf('IMAGE_RESIZE', { image: 'uploads/a/b.png', size: '10x10', sizes: ['5x5'] }),
    errorType: 'ValidationError',
    message: /input\.payload: give exactly one of "size" or "sizes"/,
  },
  {
    name: 'IMAGE_RESIZE quality 0',
    send: payloadOf('IMAGE_RESIZE', { image: 'uploads/a/b.png', size: '10x10', quality: 0 }),
    errorType: 'ValidationError',
    message: /input\.payload\.quality: .*>=1/,
  },
  {
    name: 'IMAGE_RESIZE fit it does not know',
    send: payloadOf('IMAGE_RESIZE', { image: 'uploads/a/b.png', size: '10x10', fit: 'stretch' }),
    errorType: 'ValidationError',
    message: /input\.payload\.fit: .*"cover"\|"contain"\|"fill"\|"inside"\|"outside"/,
  },
  {
    name: 'IMAGE_RESIZE image key climbing out of the store',
    send: payloadOf('IMAGE_RESIZE', { image: '../../etc/passwd', size: '10x10' }),
    errorType: 'ValidationError',
    message: /input\.payload\.image: must not contain empty, "\." or "\.\." segments/,
  },
  {
    name: 'SEND_EMAIL to something that is not an address',
    send: payloadOf('SEND_EMAIL', { to: 'nobody', subject: 's', text: 't' }),
    errorType: 'ValidationError',
    message: /input\.payload\.to: must be an email address/,
  },
  {
    name: 'SEND_EMAIL with a header smuggled into the address',
    send: payloadOf('SEND_EMAIL', { to: 'a@example.com\r\nBcc: b@example.com', subject: 's', text: 't' }),
    errorType: 'ValidationError',
    message: /input\.payload\.to: must be an email address/,
  },
  {
    name: 'SEND_EMAIL without a body',
    send: payloadOf('SEND_EMAIL', { to: 'a@example.com', subject: 's' }),
    errorType: 'ValidationError',
    message: /input\.payload: give a body: "text", "html" or both/,
  },
  {
    name: 'SEND_EMAIL to 51 recipients',
    send: payloadOf('SEND_EMAIL', {
      to: Array.from({ length: 51 }, (_, i) => `user${i}@example.com`),
      subject: 's',
      text: 't',
    }),
    errorType: 'ValidationError',
    message: /input\.payload: at most 50 recipients in to, cc and bcc together/,
  },
  {
    name: 'SEND_EMAIL attachment key climbing out of the store',
    send: payloadOf('SEND_EMAIL', {
      to: 'a@example.com',
      subject: 's',
      text: 't',
      attachments: [{ key: '../../api-key' }],
    }),
    errorType: 'ValidationError',
    message: /input\.payload\.attachments\.0\.key: must be a blob key/,
  },
  {
    name: 'SEND_EMAIL subject over 998 characters',
    send: payloadOf('SEND_EMAIL', { to: 'a@example.com', subject: 's'.repeat(999), text: 't' }),
    errorType: 'ValidationError',
    message: /input\.payload\.subject: .*<=998 characters/,
  },
  {
    name: 'WORD_COUNT with neither text nor key',
    send: payloadOf('WORD_COUNT', {}),
    errorType: 'ValidationError',
    message: /input\.payload: give exactly one of "text" or "key"/,
  },
  {
    name: 'WORD_COUNT top over 100',
    send: payloadOf('WORD_COUNT', { text: 'a', top: 101 }),
    errorType: 'ValidationError',
    message: /input\.payload\.top: .*<=100/,
  },
  {
    name: 'WORD_COUNT text over 200,000 characters',
    send: payloadOf('WORD_COUNT', { text: 'a'.repeat(200_001) }),
    errorType: 'ValidationError',
    message: /input\.payload\.text: .*<=200000 characters/,
  },
  {
    name: 'WORD_COUNT key that is an absolute path',
    send: payloadOf('WORD_COUNT', { key: '/etc/passwd' }),
    errorType: 'ValidationError',
    message: /input\.payload\.key: must be a blob key from createUploadUrl/,
  },
  {
    name: 'WORD_COUNT text a number',
    send: payloadOf('WORD_COUNT', { text: 5 }),
    errorType: 'ValidationError',
    message: /input\.payload\.text: .*expected string, received number/,
  },
];

const TEN_MB = 10 * 1024 * 1024;

/** 10 MB sent in 64 KB chunks with no Content-Length, so only counting the bytes can stop it. */
function streamedBody(): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(64 * 1024).fill(0x20);
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= TEN_MB) controller.close();
      else {
        controller.enqueue(chunk);
        sent += chunk.length;
      }
    },
  });
}

const oversized: Case[] = [
  {
    name: 'a payload over 256 KB',
    send: payloadOf('PROCESS_DATA', { records: [{ s: 'x'.repeat(270 * 1024) }] }),
    errorType: 'PayloadTooLargeError',
    message: /input\.payload is \d+ bytes, over the limit of 262144 bytes\. Upload large inputs as blobs/,
  },
  {
    name: 'a 10 MB request body',
    send: post(`{"query":"{ queueStats { total } }","variables":{"pad":"${'x'.repeat(TEN_MB)}"}}`),
    status: 413,
    errorType: 'PayloadTooLargeException',
    message: /over 1048576 bytes.*upload large inputs as blobs/,
  },
  {
    name: 'a 10 MB request body streamed without a Content-Length',
    send: post(streamedBody(), false),
    status: 413,
    errorType: 'PayloadTooLargeException',
    message: /over 1048576 bytes/,
  },
  {
    // The WebSocket protocol says it with the code alone: 1009 is "message too big" (RFC 6455 7.4.1),
    // and the ws library sends it without a reason text, so there is no message to check.
    name: 'a WebSocket message over 1 MB',
    send: overWebSocket('subscription { onTaskUpdated { id } }', { pad: 'x'.repeat(1_100_000) }),
    errorType: 'close 1009',
  },
];

const JSON_TOO_DEEP =
  /levels deep; at most 100 levels of arrays and objects are allowed\. Flatten the data, or upload it/;

const deepJson: Case[] = [
  {
    name: 'a payload nested 20,000 levels, in a variable',
    send: gql('mutation ($p: AWSJSON!) { submitTask(input: { type: PROCESS_DATA, payload: $p }) { id } }', {
      p: `{"records":[{"a":${nested(20_000)}}]}`,
    }),
    errorType: 'ValidationError',
    message: new RegExp(`^\\$p: is nested 20,003 ${JSON_TOO_DEEP.source}`),
  },
  {
    name: 'a payload nested 20,000 levels, inside an input variable',
    send: submit({ type: 'WORD_COUNT', payload: nested(20_000) }),
    errorType: 'ValidationError',
    message: new RegExp(`^\\$input\\.payload: is nested 20,000 ${JSON_TOO_DEEP.source}`),
  },
  {
    name: 'a payload nested 20,000 levels, second of a batch',
    send: gql(SUBMIT_MANY, {
      inputs: [
        { type: 'WORD_COUNT', payload: '{"text":"a"}' },
        { type: 'WORD_COUNT', payload: nested(20_000) },
      ],
    }),
    errorType: 'ValidationError',
    message: new RegExp(`^\\$inputs\\[1\\]\\.payload: is nested 20,000 ${JSON_TOO_DEEP.source}`),
  },
  {
    name: 'a payload nested 20,000 levels, written inline in the query',
    send: gql(`mutation { submitTask(input: { type: WORD_COUNT, payload: "${nested(20_000)}" }) { id } }`),
    errorType: 'ValidationError',
    message: new RegExp(`^input\\.payload: is nested 20,000 ${JSON_TOO_DEEP.source}`),
  },
  {
    name: 'a payload nested 20,000 levels, over WebSocket',
    send: overWebSocket(SUBMIT, { input: { type: 'WORD_COUNT', payload: nested(20_000) } }),
    errorType: 'ValidationError',
    message: new RegExp(`^\\$input\\.payload: is nested 20,000 ${JSON_TOO_DEEP.source}`),
  },
  {
    name: 'a payload one level over the limit',
    send: submit({ type: 'WORD_COUNT', payload: nested(LIMITS.maxJsonDepth + 1) }),
    errorType: 'ValidationError',
    message: new RegExp(`is nested 101 ${JSON_TOO_DEEP.source}`),
  },
  {
    name: 'variables nested 20,000 levels where an input object belongs',
    send: post(`{"query":${JSON.stringify(SUBMIT_MANY)},"variables":{"inputs":${nested(20_000)}}}`),
    errorType: 'ValidationError',
    message:
      /Variable "\$inputs" got invalid value .* at "inputs\[0\]"; Expected type "SubmitTaskInput" to be an object/,
  },
  {
    name: 'selections nested 20,000 levels',
    send: gql(`{${'a {'.repeat(20_000)} b ${'}'.repeat(20_000)}}`),
    errorType: 'QueryTooComplexError',
    message: /nests brackets \(\{, \[ or \(\) more than 100 levels deep.*at most 100 are allowed/,
  },
  {
    name: 'a list literal nested 20,000 levels',
    send: gql(`mutation { submitTasks(inputs: ${nested(20_000)}) { id } }`),
    errorType: 'QueryTooComplexError',
    message: /nests brackets .* more than 100 levels deep.*pass deeply nested values as AWSJSON variables/,
  },
];

const complexity: Case[] = [
  {
    name: '500 aliases of queueStats',
    send: gql(aliases(500)),
    errorType: 'QueryTooComplexError',
    message: /The query uses 500 aliases; at most 30 are allowed\. Ask for each field once/,
  },
  {
    name: 'one alias over the limit',
    send: gql(aliases(LIMITS.maxAliases + 1)),
    errorType: 'QueryTooComplexError',
    message: /The query uses 31 aliases; at most 30 are allowed/,
  },
  {
    name: '500 aliases over WebSocket',
    send: overWebSocket(aliases(500)),
    errorType: 'QueryTooComplexError',
    message: /The query uses 500 aliases; at most 30 are allowed/,
  },
  {
    name: 'a query 26 levels deep',
    send: gql(deepQuery(26)),
    errorType: 'QueryTooComplexError',
    message: /The query is 26 levels deep; at most 20 are allowed\. Ask for fewer nested fields/,
  },
  {
    name: 'a query 21 levels deep through fragments',
    send: gql(
      `query Deep { __type(name: "Task") { ...A } } fragment A on __Type { ofType { ...B } } fragment B on __Type { ${'ofType { '.repeat(18)}name${' }'.repeat(18)} }`,
    ),
    errorType: 'QueryTooComplexError',
    message: /The query Deep is 21 levels deep; at most 20 are allowed/,
  },
  {
    name: 'a query 26 levels deep over WebSocket',
    send: overWebSocket(deepQuery(26)),
    errorType: 'QueryTooComplexError',
    message: /The query is 26 levels deep; at most 20 are allowed/,
  },
  {
    name: 'a document of 6,000 tokens',
    send: gql(`{ queueStats { ${'total '.repeat(6000)}} }`),
    errorType: 'QueryTooComplexError',
    message:
      /The query has more than 5,000 tokens .*at most 5,000 are allowed\. Split it into several requests/,
  },
];

const ids: Case[] = [
  {
    name: 'task of an id that is not a UUID',
    send: gql('{ task(id: "../etc/passwd") { id } }'),
    errorType: 'ValidationError',
    message: /"\.\.\/etc\/passwd" is not a task id \(a lowercase UUID\)/,
  },
  {
    name: 'task of an empty id',
    send: gql('{ task(id: "") { id } }'),
    errorType: 'ValidationError',
    message: /"" is not a task id/,
  },
  {
    name: 'task of an unknown id is null, not an error',
    send: gql(`{ task(id: "${UNKNOWN_ID}") { id } }`),
    errorType: undefined,
    data: { task: null },
  },
  {
    name: 'cancelTask of an unknown id',
    send: gql(`mutation { cancelTask(id: "${UNKNOWN_ID}") { id } }`),
    errorType: 'NotFoundError',
    message: new RegExp(`No task with id "${UNKNOWN_ID}" exists`),
  },
  {
    name: 'cancelTask of a malformed id',
    send: gql('mutation { cancelTask(id: "../x") { id } }'),
    errorType: 'ValidationError',
    message: /id: "\.\.\/x" is not a task id/,
  },
  {
    name: 'cancelTask of an empty id',
    send: gql('mutation { cancelTask(id: "") { id } }'),
    errorType: 'ValidationError',
    message: /^id: is required/,
  },
  {
    name: 'retryTask of an unknown id',
    send: gql(`mutation { retryTask(id: "${UNKNOWN_ID}") { id } }`),
    errorType: 'NotFoundError',
    message: new RegExp(`No task with id "${UNKNOWN_ID}" exists`),
  },
  {
    name: 'retryTask of a malformed id',
    send: gql('mutation { retryTask(id: "not-a-uuid") { id } }'),
    errorType: 'ValidationError',
    message: /id: "not-a-uuid" is not a task id/,
  },
  {
    name: 'a nextToken that is not one',
    send: gql('{ tasks(nextToken: "garbage!!") { items { id } } }'),
    errorType: 'ValidationError',
    message: /nextToken: is not a token this API returned; pass the nextToken of the previous page/,
  },
  {
    name: 'a forged nextToken',
    send: gql('query ($t: String) { tasks(nextToken: $t) { items { id } } }', {
      t: Buffer.from(JSON.stringify({ createdAt: '2026-01-01T00:00:00Z', id: UNKNOWN_ID })).toString(
        'base64',
      ),
    }),
    errorType: 'ValidationError',
    message: /nextToken: is not a token this API returned/,
  },
  {
    name: 'tasks limit over 100',
    send: gql('{ tasks(limit: 101) { items { id } } }'),
    errorType: 'ValidationError',
    message: /limit: must be an integer from 1 to 100, got 101/,
  },
  {
    name: 'tasks filter with a status that does not exist',
    send: gql('{ tasks(filter: { status: DONE }) { items { id } } }'),
    errorType: 'ValidationError',
    message: /Value "DONE" does not exist in "TaskStatus" enum/,
  },
];

const auth: Case[] = [
  {
    name: 'no API key',
    send: gql('{ queueStats { total } }', undefined, null),
    status: 401,
    errorType: 'UnauthorizedException',
    message: /Send the API key in the x-api-key header/,
  },
  {
    name: 'a wrong API key',
    send: gql('{ queueStats { total } }', undefined, 'wrong-key-0123456789'),
    status: 401,
    errorType: 'UnauthorizedException',
    message: /x-api-key header does not match the API key/,
  },
  {
    name: 'an empty API key',
    send: gql('{ queueStats { total } }', undefined, ''),
    status: 401,
    errorType: 'UnauthorizedException',
    message: /x-api-key header does not match the API key/,
  },
  {
    name: 'a wrong API key over WebSocket',
    send: overWebSocket('subscription { onTaskUpdated { id } }', undefined, 'wrong-key-0123456789'),
    errorType: 'close 4403',
    message: /Forbidden/,
  },
  {
    name: 'an empty API key over WebSocket',
    send: overWebSocket('subscription { onTaskUpdated { id } }', undefined, ''),
    errorType: 'close 4403',
    message: /Forbidden/,
  },
  {
    name: 'publishTaskUpdate (IAM only) with an API key',
    send: gql(PUBLISH),
    errorType: 'Unauthorized',
    message: /Not Authorized to access publishTaskUpdate on type Mutation/,
  },
  {
    name: 'publishTaskUpdate (IAM only) with an API key over WebSocket',
    send: overWebSocket(PUBLISH),
    errorType: 'Unauthorized',
    message: /Not Authorized to access publishTaskUpdate on type Mutation/,
  },
];

const uploads: Case[] = [
  {
    name: 'createUploadUrl with a climbing fileName gets a sanitized key, not an error',
    send: async () => {
      const outcome = await gql(
        'mutation { createUploadUrl(contentType: "text/plain", fileName: "../../../etc/passwd") { key } }',
      )();
      const key = (outcome.data as { createUploadUrl: { key: string } }).createUploadUrl.key;
      expect(existsSync(join(dataDir, 'blobs', key))).toBe(false);
      return outcome;
    },
    errorType: undefined,
    data: { createUploadUrl: { key: expect.stringMatching(/^uploads\/[0-9a-f-]{36}\/passwd$/) } },
  },
  {
    name: 'createUploadUrl with a fileName of dots only',
    send: gql('mutation { createUploadUrl(contentType: "text/plain", fileName: "..") { key } }'),
    errorType: 'ValidationError',
    message: /fileName: has no usable characters/,
  },
  {
    name: 'createUploadUrl with a contentType that is not a media type',
    send: gql('mutation { createUploadUrl(contentType: "../../x", fileName: "a.txt") { key } }'),
    errorType: 'ValidationError',
    message: /contentType: must be a media type such as "image\/png"/,
  },
  {
    name: 'a blob URL whose key climbs out with ..%2F',
    send: async () => {
      const upload = await createUpload('text/plain', 'a.txt');
      const response = await fetch(upload.url.replace(/\/blobs\/[^?]+/, '/blobs/..%2F..%2Fescaped.txt'), {
        method: 'PUT',
        headers: { 'content-type': 'text/plain' },
        body: 'x',
      });
      for (const dir of [dataDir, dirname(dataDir), join(dataDir, 'blobs')])
        expect(existsSync(join(dir, 'escaped.txt'))).toBe(false);
      return outcomeOf(response.status, (await response.json()) as GraphQLBody);
    },
    status: 403,
    errorType: 'AccessDenied',
    message: /The blob key in the URL is not valid/,
  },
];

const taskLevel: Case[] = [
  {
    name: 'IMAGE_RESIZE of a file that is not an image',
    send: resizeOf(Buffer.from('this is a text file, not a picture\n')),
    errorType: 'NOT_AN_IMAGE',
    message: /is not an image in a format this task can read \(JPEG, PNG/,
    failedTasks: 1,
  },
  {
    name: 'IMAGE_RESIZE of a decompression bomb (a tiny PNG claiming 30000x30000)',
    send: resizeOf(pngClaiming(30_000, 30_000)),
    errorType: 'IMAGE_TOO_LARGE',
    message: /declares more than 100,000,000 pixels, the most this task decodes/,
    failedTasks: 1,
  },
];

const CORPUS: Record<string, Case[]> = {
  'GraphQL syntax and validation': syntaxAndValidation,
  'SubmitTaskInput fields': submitTaskInput,
  'task payloads': taskPayloads,
  'oversized requests': oversized,
  'deeply nested input': deepJson,
  'aliases, depth and size of the query': complexity,
  'ids and tokens': ids,
  'API keys and auth modes': auth,
  'upload keys': uploads,
  'task-level failures': taskLevel,
};

async function queueStats(): Promise<{ total: number; failed: number }> {
  const { status, body } = await rt.gql<{ queueStats: { total: number; failed: number } }>(
    '{ queueStats { total failed } }',
  );
  expect(status).toBe(200);
  expect(body.errors).toBeUndefined();
  return body.data!.queueStats;
}

describe('the bad-input corpus: a clear error, nothing stored, and the server keeps answering', () => {
  it('holds at least 60 cases', () => {
    expect(Object.values(CORPUS).flat().length).toBeGreaterThanOrEqual(60);
  });

  for (const [group, cases] of Object.entries(CORPUS)) {
    describe(group, () => {
      it.each(cases)('$name', async (c) => {
        const before = await queueStats();
        const outcome = await c.send();
        if (c.status !== undefined) expect(outcome.status).toBe(c.status);
        expect(outcome.errorType).toBe(c.errorType);
        if (c.message) expect(outcome.message).toMatch(c.message);
        if (c.data !== undefined) expect(outcome.data).toEqual(c.data);
        // Still answering, and nothing stored (the task-level cases leave exactly their FAILED task).
        const stored = c.failedTasks ?? 0;
        expect(rt.child.exitCode).toBeNull();
        expect(await queueStats()).toEqual({ total: before.total + stored, failed: before.failed + stored });
      });
    });
  }
});

describe('the limits leave real requests alone', () => {
  it('GraphiQL’s introspection query (15 levels deep) passes', async () => {
    const { status, body } = await rt.gql<{ __schema: { queryType: { name: string } } }>(
      getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true, specifiedByUrl: true }),
    );
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    expect(body.data!.__schema.queryType.name).toBe('Query');
  });

  it.each([
    { name: `${LIMITS.maxAliases} aliases`, query: aliases(LIMITS.maxAliases) },
    { name: `a query ${LIMITS.maxQueryDepth} levels deep`, query: deepQuery(LIMITS.maxQueryDepth) },
  ])('$name pass', async ({ query }) => {
    const { status, body } = await rt.gql(query);
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
  });

  it('a PROCESS_DATA record nested the 64 levels its type allows passes the AWSJSON limit', async () => {
    const { body } = await rt.gql<{ submitTask: { status: string } }>(
      'mutation ($input: SubmitTaskInput!) { submitTask(input: $input) { status } }',
      { input: { type: 'PROCESS_DATA', payload: nestedRecord(64), delaySeconds: 900 } },
    );
    expect(body.errors).toBeUndefined();
    expect(body.data!.submitTask.status).toBe('QUEUED');
  });
});
