import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startRuntime,
  tempDataDir,
  waitFor,
  TEST_API_KEY,
  type RuntimeProcess,
} from '../helpers/runtime-process.ts';

const TASK_FIELDS =
  'id type status result error { code message retryable attempt } attempts maxAttempts version';

const dataPayload = (records: unknown[]) =>
  JSON.stringify({ records, operations: [{ op: 'sort', by: [{ field: 'n', order: 'desc' }] }] });

let rt: RuntimeProcess;

async function total(): Promise<number> {
  const { body } = await rt.gql<{ queueStats: { total: number } }>('{ queueStats { total } }');
  return body.data!.queueStats.total;
}

async function taskById(id: string) {
  const { body } = await rt.gql<{ task: Record<string, unknown> | null }>(
    `query ($id: ID!) { task(id: $id) { ${TASK_FIELDS} } }`,
    { id },
  );
  return body.data!.task;
}

async function submit(input: Record<string, unknown>) {
  return rt.gql<{ submitTask: Record<string, unknown> }>(
    `mutation ($input: SubmitTaskInput!) { submitTask(input: $input) { ${TASK_FIELDS} } }`,
    { input },
  );
}

beforeAll(async () => {
  rt = await startRuntime(tempDataDir());
});

afterAll(async () => {
  await rt?.stop();
});

describe('the GraphQL API over HTTP and WebSocket', () => {
  it('submitTask returns a QUEUED task at once and a subscriber sees QUEUED → RUNNING → SUCCEEDED live', async () => {
    const client = rt.ws();
    const events: Array<{ id: string; status: string; version: number; result: string | null }> = [];
    const subscribed = new Promise<void>((resolve, reject) => {
      client.subscribe<{ onTaskUpdated: (typeof events)[number] }>(
        { query: 'subscription { onTaskUpdated(type: PROCESS_DATA) { id status version result } }' },
        { next: (m) => events.push(m.data!.onTaskUpdated), error: reject, complete: () => undefined },
      );
      client.on('connected', () => setTimeout(resolve, 200));
    });
    await subscribed;

    const { body } = await submit({
      type: 'PROCESS_DATA',
      payload: dataPayload([{ n: 1 }, { n: 3 }, { n: 2 }]),
    });
    const task = body.data!.submitTask;
    expect(task.status).toBe('QUEUED');
    expect(task.version).toBe(1);

    await waitFor(() => events.some((e) => e.id === task.id && e.status === 'SUCCEEDED'), 'SUCCEEDED event');
    const mine = events.filter((e) => e.id === task.id);
    // Progress updates repeat RUNNING; the status sequence itself never goes back.
    const statuses = mine.map((e) => e.status).filter((s, i, all) => s !== all[i - 1]);
    expect(statuses).toEqual(['QUEUED', 'RUNNING', 'SUCCEEDED']);
    expect(mine.map((e) => e.version)).toEqual([...mine.map((e) => e.version)].sort((a, b) => a - b));
    expect(JSON.parse(mine.at(-1)!.result!)).toEqual({ records: [{ n: 3 }, { n: 2 }, { n: 1 }], count: 3 });
    await client.dispose();
  });

  it('a subscription argument filters events as AppSync does (status: SUCCEEDED sees only SUCCEEDED)', async () => {
    const client = rt.ws();
    const statuses: string[] = [];
    await new Promise<void>((resolve, reject) => {
      client.subscribe<{ onTaskUpdated: { status: string } }>(
        { query: 'subscription { onTaskUpdated(status: SUCCEEDED) { id status } }' },
        {
          next: (m) => statuses.push(m.data!.onTaskUpdated.status),
          error: reject,
          complete: () => undefined,
        },
      );
      client.on('connected', () => setTimeout(resolve, 200));
    });
    await submit({ type: 'PROCESS_DATA', payload: dataPayload([{ n: 1 }]) });
    await waitFor(() => statuses.length > 0, 'a SUCCEEDED event');
    expect(new Set(statuses)).toEqual(new Set(['SUCCEEDED']));
    await client.dispose();
  });

  it('a WebSocket connection with a wrong API key is refused', async () => {
    const client = rt.ws('wrong-key-0123456789');
    const error = await new Promise<unknown>((resolve) => {
      client.subscribe(
        { query: 'subscription { onTaskUpdated { id } }' },
        { next: () => undefined, error: resolve, complete: () => resolve('completed') },
      );
    });
    expect(String((error as { code?: number }).code ?? error)).toMatch(/4403|Forbidden/);
    await client.dispose();
  });

  it('an idempotency key returns the first task and creates nothing new', async () => {
    const before = await total();
    const input = { type: 'PROCESS_DATA', payload: dataPayload([]), idempotencyKey: 'order-42' };
    const first = await submit(input);
    const second = await submit(input);
    expect(second.body.data!.submitTask.id).toBe(first.body.data!.submitTask.id);
    expect(await total()).toBe(before + 1);
  });

  it('submitTasks stores a batch, and tasks() lists newest first with filters and pagination', async () => {
    const inputs = Array.from({ length: 5 }, (_, i) => ({
      type: 'PROCESS_DATA',
      payload: dataPayload([{ n: i }]),
    }));
    const { body } = await rt.gql<{ submitTasks: Array<{ id: string }> }>(
      'mutation ($inputs: [SubmitTaskInput!]!) { submitTasks(inputs: $inputs) { id } }',
      { inputs },
    );
    expect(body.data!.submitTasks).toHaveLength(5);
    const seen: string[] = [];
    let nextToken: string | null = null;
    do {
      const page: {
        body: { data?: { tasks: { items: Array<{ id: string; type: string }>; nextToken: string | null } } };
      } = await rt.gql(
        'query ($t: String) { tasks(filter: { type: PROCESS_DATA }, limit: 2, nextToken: $t) { items { id type } nextToken } }',
        {
          t: nextToken,
        },
      );
      seen.push(...page.body.data!.tasks.items.map((t) => t.id));
      nextToken = page.body.data!.tasks.nextToken;
    } while (nextToken);
    expect(new Set(seen).size).toBe(seen.length);
    const ids = body.data!.submitTasks.map((t) => t.id);
    for (const id of ids) expect(seen).toContain(id);
    // Newest first: the batch's items appear before anything submitted earlier.
    expect(seen.indexOf(ids[0]!)).toBeLessThan(seen.length);
  });

  it('a task that fails permanently is FAILED with its error, and retryTask redrives it with fresh attempts', async () => {
    const { body } = await submit({
      type: 'IMAGE_RESIZE',
      payload: JSON.stringify({ image: 'uploads/none/missing.png', size: '10x10' }),
    });
    const id = body.data!.submitTask.id as string;
    const failed = await waitFor(async () => {
      const t = await taskById(id);
      return t?.status === 'FAILED' ? t : null;
    }, 'FAILED');
    expect(failed!.error).toMatchObject({ code: 'INPUT_NOT_FOUND', retryable: false, attempt: 1 });
    const retried = await rt.gql<{ retryTask: { status: string; attempts: number } }>(
      'mutation ($id: ID!) { retryTask(id: $id) { status attempts } }',
      { id },
    );
    expect(retried.body.data!.retryTask).toEqual({ status: 'QUEUED', attempts: 0 });
  });

  it('cancelTask of a delayed task cancels it at once, and a second cancel is a clear error', async () => {
    const { body } = await submit({ type: 'PROCESS_DATA', payload: dataPayload([]), delaySeconds: 600 });
    const id = body.data!.submitTask.id as string;
    const cancel = () => rt.gql('mutation ($id: ID!) { cancelTask(id: $id) { status } }', { id });
    expect((await cancel()).body.data).toEqual({ cancelTask: { status: 'CANCELLED' } });
    const again = await cancel();
    expect(again.body.errors?.[0]).toMatchObject({ errorType: 'InvalidTransitionError' });
    expect(String(again.body.errors?.[0]?.message)).toContain('CANCELLED');
  });

  it('a POST body is read as JSON whatever its Content-Type says, as AppSync reads it', async () => {
    // Clients written for AppSync send application/graphql (its own examples do), text/plain or none.
    const submitted: string[] = [];
    for (const contentType of [
      'application/graphql',
      'text/plain',
      'application/json; charset=utf-8',
      null,
    ]) {
      const response = await fetch(rt.url, {
        method: 'POST',
        headers: { 'x-api-key': TEST_API_KEY, ...(contentType ? { 'content-type': contentType } : {}) },
        body: JSON.stringify({
          query: 'mutation ($input: SubmitTaskInput!) { submitTask(input: $input) { id status } }',
          variables: { input: { type: 'PROCESS_DATA', payload: dataPayload([{ n: 1 }]) } },
        }),
      });
      const body = (await response.json()) as { data?: { submitTask: { id: string; status: string } } };
      expect({ contentType, status: response.status, task: body.data?.submitTask.status }).toEqual({
        contentType,
        status: 200,
        task: 'QUEUED',
      });
      submitted.push(body.data!.submitTask.id);
    }
    expect(new Set(submitted).size).toBe(4);
    for (const id of submitted) expect(await taskById(id)).toMatchObject({ id, type: 'PROCESS_DATA' });
  });

  it('GraphiQL is served without a CDN', async () => {
    const response = await fetch(rt.url, { headers: { accept: 'text/html' } });
    const html = await response.text();
    expect(response.status).toBe(200);
    expect(html).toContain('GraphiQL');
    expect(html).not.toMatch(/unpkg\.com|cdn\.jsdelivr/);
  });
});

describe('bad input gets a clear GraphQL error, stores nothing, and the server keeps serving', () => {
  const big = 'x'.repeat(270 * 1024);
  const cases: Array<{
    name: string;
    query: string;
    variables?: Record<string, unknown>;
    apiKey?: string | null;
    status?: number;
    errorType: string;
    message: RegExp;
  }> = [
    {
      name: 'unknown task type',
      query: 'mutation { submitTask(input: { type: RESIZE_VIDEO, payload: "{}" }) { id } }',
      errorType: 'ValidationError',
      message: /RESIZE_VIDEO/,
    },
    {
      name: 'payload that is not JSON',
      query: 'mutation { submitTask(input: { type: PROCESS_DATA, payload: "{nope" }) { id } }',
      errorType: 'ValidationError',
      message: /JSON/,
    },
    {
      name: 'payload not matching the type schema',
      query: 'mutation { submitTask(input: { type: PROCESS_DATA, payload: "{\\"records\\": 5}" }) { id } }',
      errorType: 'ValidationError',
      message: /input\.payload\.records/,
    },
    {
      name: 'payload over 256 KB',
      query: 'mutation ($p: AWSJSON!) { submitTask(input: { type: PROCESS_DATA, payload: $p }) { id } }',
      variables: { p: JSON.stringify({ records: [{ s: big }] }) },
      errorType: 'PayloadTooLargeError',
      message: /over the limit of 262144 bytes/,
    },
    {
      name: 'delaySeconds out of range',
      query:
        'mutation { submitTask(input: { type: PROCESS_DATA, payload: "{\\"records\\":[]}", delaySeconds: 901 }) { id } }',
      errorType: 'ValidationError',
      message: /delaySeconds: must be an integer from 0 to 900/,
    },
    {
      name: 'maxAttempts out of range',
      query:
        'mutation { submitTask(input: { type: PROCESS_DATA, payload: "{\\"records\\":[]}", maxAttempts: 0 }) { id } }',
      errorType: 'ValidationError',
      message: /maxAttempts/,
    },
    {
      name: 'timeoutSeconds out of range',
      query:
        'mutation { submitTask(input: { type: PROCESS_DATA, payload: "{\\"records\\":[]}", timeoutSeconds: 100000 }) { id } }',
      errorType: 'ValidationError',
      message: /timeoutSeconds/,
    },
    {
      name: 'more than 25 tasks in submitTasks',
      query: 'mutation ($i: [SubmitTaskInput!]!) { submitTasks(inputs: $i) { id } }',
      variables: {
        i: Array.from({ length: 26 }, () => ({ type: 'PROCESS_DATA', payload: '{"records":[]}' })),
      },
      errorType: 'ValidationError',
      message: /at most 25/,
    },
    {
      name: 'cancel of an unknown id',
      query: 'mutation { cancelTask(id: "00000000-0000-4000-8000-000000000000") { id } }',
      errorType: 'NotFoundError',
      message: /No task with id/,
    },
    {
      name: 'retry of an unknown id',
      query: 'mutation { retryTask(id: "00000000-0000-4000-8000-000000000000") { id } }',
      errorType: 'NotFoundError',
      message: /No task with id/,
    },
    {
      name: 'a malformed task id',
      query: '{ task(id: "../etc/passwd") { id } }',
      errorType: 'ValidationError',
      message: /not a task id/,
    },
    {
      name: 'malformed GraphQL',
      query: 'mutation { submitTask(input: {',
      errorType: 'InvalidSyntax',
      message: /Syntax/,
    },
    {
      name: 'an unknown field',
      query: '{ task(id: "x") { nope } }',
      errorType: 'ValidationError',
      message: /nope/,
    },
    {
      name: 'publishTaskUpdate with an API key',
      query:
        'mutation { publishTaskUpdate(input: { id: "x", type: PROCESS_DATA, status: QUEUED, attempts: 0, maxAttempts: 1, timeoutSeconds: 1, version: 1, createdAt: "2026-01-01T00:00:00Z", updatedAt: "2026-01-01T00:00:00Z", runAt: "2026-01-01T00:00:00Z", cancelRequested: false }) { id } }',
      errorType: 'Unauthorized',
      message: /Not Authorized to access publishTaskUpdate on type Mutation/,
    },
    {
      name: 'a missing API key',
      query: '{ queueStats { total } }',
      apiKey: null,
      status: 401,
      errorType: 'UnauthorizedException',
      message: /x-api-key/,
    },
    {
      name: 'a wrong API key',
      query: '{ queueStats { total } }',
      apiKey: 'wrong-key-0123456789',
      status: 401,
      errorType: 'UnauthorizedException',
      message: /not authorized/,
    },
  ];

  it.each(cases)('$name', async (c) => {
    const before = await total();
    const { status, body } = await rt.gql(c.query, c.variables, {
      apiKey: c.apiKey === undefined ? TEST_API_KEY : c.apiKey,
    });
    if (c.status) expect(status).toBe(c.status);
    expect(body.errors?.[0]).toMatchObject({ errorType: c.errorType });
    expect(String(body.errors?.[0]?.message)).toMatch(c.message);
    expect(await total()).toBe(before);
  });

  it('a request body over 1 MB is refused with 413', async () => {
    const response = await fetch(rt.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': TEST_API_KEY },
      body: JSON.stringify({ query: '{ queueStats { total } }', variables: { pad: 'x'.repeat(1_100_000) } }),
    });
    expect(response.status).toBe(413);
    expect(((await response.json()) as { errors: Array<{ errorType: string }> }).errors[0]!.errorType).toBe(
      'PayloadTooLargeException',
    );
    expect(await total()).toBeGreaterThanOrEqual(0);
  });
});
