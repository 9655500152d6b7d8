import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sqliteAtomicEnqueue } from '../../src/adapters/sqlite/sqlite-atomic-enqueue.ts';
import { SqliteTaskQueue } from '../../src/adapters/sqlite/sqlite-task-queue.ts';
import { SqliteTaskStore } from '../../src/adapters/sqlite/sqlite-task-store.ts';
import { decodeTaskMessage } from '../../src/domain/task.ts';
import { TaskTypeRegistry } from '../../src/domain/task-type-registry.ts';
import type { OutgoingMessage } from '../../src/ports/task-queue.ts';
import { BUILT_IN_TASK_TYPES } from '../../src/task-types/built-in.ts';
import { makeSubmitTasks, type SubmitTaskRequest } from '../../src/use-cases/submit-tasks.ts';
import { T0, iso, manualClock, recordingLogger, type ManualClock } from '../helpers/contract-fixtures.ts';
import { tempSqlite } from '../helpers/contract-sqlite.ts';

const email = { to: 'a@example.com', subject: 'Hi', text: 'Hello' };
const ok: SubmitTaskRequest = { type: 'SEND_EMAIL', payload: email };
const at = (i: number) => `inputs[${i}]`;

// Both ways the submit use case is wired: tasks and messages in one transaction (the local runtime,
// whose store and queue share one SQLite file), or one after the other (AWS: DynamoDB, then SQS).
describe.each([
  { wiring: 'in one transaction', atomic: true },
  { wiring: 'one after the other', atomic: false },
])('makeSubmitTasks with the SQLite store and queue, $wiring', ({ atomic }) => {
  let sqlite: ReturnType<typeof tempSqlite>;
  let store: SqliteTaskStore;
  let queue: SqliteTaskQueue;
  let clock: ManualClock;
  const registry = new TaskTypeRegistry(BUILT_IN_TASK_TYPES);

  beforeEach(() => {
    sqlite = tempSqlite();
    clock = manualClock();
    store = new SqliteTaskStore(sqlite.db);
    queue = new SqliteTaskQueue(sqlite.db, clock, { maxReceiveCount: 10 });
  });

  afterEach(() => {
    sqlite.cleanup();
  });

  function submitter(overrides: { send?: (messages: readonly OutgoingMessage[]) => Promise<void> } = {}) {
    const logger = recordingLogger();
    const submit = makeSubmitTasks({
      store,
      queue: overrides.send ? { send: overrides.send } : queue,
      ...(atomic ? { atomic: sqliteAtomicEnqueue(store, queue) } : {}),
      registry,
      clock,
      logger,
    });
    return { submit, logger };
  }

  async function storedTasks() {
    return (await store.list({}, 100, null)).items;
  }

  it('gives tasks time-ordered ids (UUID version 7) that sort in submission order', async () => {
    const { submit } = submitter();

    const first = await submit([ok, ok, ok], 'inputs', at);
    const second = await submit([ok], 'inputs', at);
    const ids = [...first, ...second].map((t) => t.id);

    for (const id of ids)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('stores a valid task as QUEUED and sends one message naming it', async () => {
    const { submit } = submitter();

    const [task] = await submit([ok], 'inputs', at);

    expect(task).toMatchObject({
      type: 'SEND_EMAIL',
      status: 'QUEUED',
      payload: JSON.stringify(email),
      attempts: 0,
      maxAttempts: 5,
      timeoutSeconds: 60,
      version: 1,
      createdAt: iso(T0),
      runAt: iso(T0),
      idempotencyKey: null,
    });
    expect(await storedTasks()).toEqual([task]);
    const messages = await queue.receive(10, 30);
    expect(messages.map((m) => decodeTaskMessage(m.body))).toEqual([{ taskId: task!.id }]);
  });

  it('takes maxAttempts and timeoutSeconds from the request over the type defaults', async () => {
    const { submit } = submitter();

    const [task] = await submit([{ ...ok, maxAttempts: 25, timeoutSeconds: 900 }], 'inputs', at);

    expect(task).toMatchObject({ maxAttempts: 25, timeoutSeconds: 900 });
  });

  it('delays both runAt and the message by delaySeconds', async () => {
    const { submit } = submitter();

    const [task] = await submit([{ ...ok, delaySeconds: 60 }], 'inputs', at);
    const early = await queue.receive(10, 30);
    clock.advance(60_000);
    const due = await queue.receive(10, 30);

    expect(task!.runAt).toBe(iso(T0 + 60_000));
    expect(early).toEqual([]);
    expect(due).toHaveLength(1);
  });

  const tooBig = { ...email, text: 'x'.repeat(256 * 1024) };
  const cases: Array<[string, SubmitTaskRequest[], string, string]> = [
    ['an unknown type', [{ type: 'NOPE', payload: {} }], 'ValidationError', 'inputs[0].type'],
    ['a null payload', [{ type: 'SEND_EMAIL', payload: null }], 'ValidationError', 'inputs[0].payload'],
    [
      'a payload over 256 KiB',
      [{ type: 'SEND_EMAIL', payload: tooBig }],
      'PayloadTooLargeError',
      'inputs[0].payload',
    ],
    [
      'a payload the type rejects',
      [{ type: 'SEND_EMAIL', payload: { to: 'x' } }],
      'ValidationError',
      'inputs[0].payload.to',
    ],
    ['delaySeconds -1', [{ ...ok, delaySeconds: -1 }], 'ValidationError', 'inputs[0].delaySeconds'],
    ['delaySeconds 901', [{ ...ok, delaySeconds: 901 }], 'ValidationError', 'inputs[0].delaySeconds'],
    ['delaySeconds 1.5', [{ ...ok, delaySeconds: 1.5 }], 'ValidationError', 'inputs[0].delaySeconds'],
    ['maxAttempts 0', [{ ...ok, maxAttempts: 0 }], 'ValidationError', 'inputs[0].maxAttempts'],
    ['maxAttempts 26', [{ ...ok, maxAttempts: 26 }], 'ValidationError', 'inputs[0].maxAttempts'],
    ['timeoutSeconds 0', [{ ...ok, timeoutSeconds: 0 }], 'ValidationError', 'inputs[0].timeoutSeconds'],
    ['timeoutSeconds 901', [{ ...ok, timeoutSeconds: 901 }], 'ValidationError', 'inputs[0].timeoutSeconds'],
    [
      'an empty idempotency key',
      [{ ...ok, idempotencyKey: '' }],
      'ValidationError',
      'inputs[0].idempotencyKey',
    ],
    ['more than 25 items', Array.from({ length: 26 }, () => ok), 'ValidationError', 'inputs:'],
    [
      'a repeated idempotency key in one call',
      [
        { ...ok, idempotencyKey: 'same' },
        { ...ok, idempotencyKey: 'same' },
      ],
      'ValidationError',
      'inputs[1].idempotencyKey',
    ],
    ['an empty list', [], 'ValidationError', 'inputs:'],
    [
      'a bad item after a good one',
      [ok, { ...ok, maxAttempts: 0 }],
      'ValidationError',
      'inputs[1].maxAttempts',
    ],
  ];

  it.each(cases)(
    'rejects %s with the path in the message and stores and sends nothing',
    async (_label, requests, errorName, path) => {
      const { submit } = submitter();

      const attempt = submit(requests, 'inputs', at);

      await expect(attempt).rejects.toMatchObject({ name: errorName });
      await expect(attempt).rejects.toThrow(path);
      expect(await storedTasks()).toEqual([]);
      expect(queue.depth()).toEqual({ visible: 0, inFlightOrDelayed: 0, dead: 0 });
    },
  );

  it('lists every problem of every item in one ValidationError', async () => {
    const { submit } = submitter();

    const attempt = submit(
      [
        { ...ok, delaySeconds: -1, maxAttempts: 0 },
        { type: 'NOPE', payload: {} },
      ],
      'inputs',
      at,
    );

    await expect(attempt).rejects.toMatchObject({
      name: 'ValidationError',
      issues: [
        { path: 'inputs[0].delaySeconds' },
        { path: 'inputs[0].maxAttempts' },
        { path: 'inputs[1].type' },
      ],
    });
  });

  /** Makes the queue fail: its send (one after the other), or its INSERT in the transaction. */
  function queueDown(): { send: () => Promise<void> } {
    sqlite.db.db.exec(
      "CREATE TRIGGER queue_down BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'queue is down'); END",
    );
    return { send: () => Promise.reject(new Error('queue is down')) };
  }

  function queueUp(): void {
    sqlite.db.db.exec('DROP TRIGGER queue_down');
  }

  it('stores nothing when the enqueue fails, and passes the error on', async () => {
    const { submit } = submitter(queueDown());

    const attempt = submit([ok, { ...ok, idempotencyKey: 'k-fail' }], 'inputs', at);

    await expect(attempt).rejects.toThrow('queue is down');
    expect(await storedTasks()).toEqual([]);
    expect(queue.depth()).toEqual({ visible: 0, inFlightOrDelayed: 0, dead: 0 });
  });

  it('creates the task anew on a resubmit with the key of a submit whose enqueue failed', async () => {
    const failing = submitter(queueDown());
    await expect(failing.submit([{ ...ok, idempotencyKey: 'k-again' }], 'inputs', at)).rejects.toThrow();
    queueUp();
    const { submit } = submitter();

    const [task] = await submit([{ ...ok, idempotencyKey: 'k-again' }], 'inputs', at);

    expect(await storedTasks()).toEqual([task]);
    expect(queue.depth().visible).toBe(1);
  });

  it('returns the first task and sends no second message on an idempotent resubmit', async () => {
    const { submit } = submitter();
    const [first] = await submit([{ ...ok, idempotencyKey: 'k-1' }], 'inputs', at);
    clock.advance(60_000);

    const [again] = await submit([{ ...ok, idempotencyKey: 'k-1' }], 'inputs', at);

    expect(again).toEqual(first);
    expect(await storedTasks()).toEqual([first]);
    expect(queue.depth()).toEqual({ visible: 1, inFlightOrDelayed: 0, dead: 0 });
  });

  it('sends messages only for the new tasks of a batch that repeats a key', async () => {
    const { submit } = submitter();
    const [first] = await submit([{ ...ok, idempotencyKey: 'k-2' }], 'inputs', at);
    await queue.delete((await queue.receive(10, 30)).map((m) => m.receiptHandle));

    const results = await submit([{ ...ok, idempotencyKey: 'k-2' }, ok], 'inputs', at);
    const messages = await queue.receive(10, 30);

    expect(results[0]).toEqual(first);
    expect(results[1]!.id).not.toBe(first!.id);
    expect(messages.map((m) => decodeTaskMessage(m.body))).toEqual([{ taskId: results[1]!.id }]);
  });
});

describe('makeSubmitTasks, where the two wirings differ', () => {
  let sqlite: ReturnType<typeof tempSqlite>;
  let store: SqliteTaskStore;
  let queue: SqliteTaskQueue;

  beforeEach(() => {
    sqlite = tempSqlite();
    store = new SqliteTaskStore(sqlite.db);
    queue = new SqliteTaskQueue(sqlite.db, manualClock(), { maxReceiveCount: 10 });
  });

  afterEach(() => {
    sqlite.cleanup();
  });

  /** The submit use case one after the other over `send`, or in one transaction over the queue. */
  function submitter(wiring: { send: () => Promise<void> } | 'atomic', logger = recordingLogger()) {
    return makeSubmitTasks({
      store,
      ...(wiring === 'atomic' ? { queue, atomic: sqliteAtomicEnqueue(store, queue) } : { queue: wiring }),
      registry: new TaskTypeRegistry(BUILT_IN_TASK_TYPES),
      clock: manualClock(),
      logger,
    });
  }

  it('one after the other: logs the removal of the tasks it stored', async () => {
    const logger = recordingLogger();
    const submit = submitter({ send: () => Promise.reject(new Error('queue is down')) }, logger);

    await expect(submit([ok], 'inputs', at)).rejects.toThrow('queue is down');

    expect(logger.lines).toContainEqual(
      expect.objectContaining({ level: 'error', message: 'enqueue failed; removing the tasks just stored' }),
    );
    expect((await store.list({}, 10, null)).items).toEqual([]);
  });

  it('in one transaction: stores nothing when the message insert fails, so no removal is needed (one that would fail too)', async () => {
    // One after the other, a full disk can refuse the enqueue and then the removal too, leaving a
    // stored task the caller was told failed. In one transaction there is nothing to remove: the
    // refused removal (the second trigger) is never attempted. RAISE(ABORT) fails the one write, as a
    // full disk fails the group's commit; either way the transaction holds tasks and messages together.
    sqlite.db.db.exec(
      "CREATE TRIGGER disk_full_messages BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;" +
        "CREATE TRIGGER disk_full_deletes BEFORE DELETE ON tasks BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
    );
    const woken: number[] = [];
    queue.onSent(() => woken.push(1));
    const submit = submitter('atomic');

    await expect(submit([ok, ok], 'inputs', at)).rejects.toThrow('database or disk is full');

    expect((await store.list({}, 10, null)).items).toEqual([]);
    expect((await store.counts(iso(T0))).counts.QUEUED).toBe(0);
    expect(woken).toEqual([]);
  });

  it('in one transaction: refuses a store and a queue on two databases, whose writes could not share a transaction', () => {
    const other = tempSqlite();
    try {
      const elsewhere = new SqliteTaskQueue(other.db, manualClock(), { maxReceiveCount: 10 });
      expect(() => sqliteAtomicEnqueue(store, elsewhere)).toThrow(/same SqliteDatabase/);
    } finally {
      other.cleanup();
    }
  });

  it('in one transaction: wakes the queue listeners once the tasks and messages committed', async () => {
    const woken: number[] = [];
    queue.onSent(() => woken.push(queue.depth().visible));
    const submit = submitter('atomic');

    await submit([ok, ok, ok], 'inputs', at);

    expect(woken).toEqual([3]);
  });
});
