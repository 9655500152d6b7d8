import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Task } from '../../src/domain/task.ts';
import type { TaskStatus } from '../../src/domain/task-status.ts';
import type { NewTask, TaskFilter, TaskStore, UpdateCondition } from '../../src/ports/task-store.ts';
import { T0, iso, makeTask } from '../helpers/contract-fixtures.ts';

const HOUR = 60 * 60 * 1000;

function withKey(task: Task, expiresAtMs: number | null): NewTask {
  return { task, idempotencyKeyExpiresAt: expiresAtMs === null ? null : iso(expiresAtMs) };
}

function plain(task: Task): NewTask {
  return { task, idempotencyKeyExpiresAt: null };
}

/** Every page of a listing, in order. */
async function listAll(store: TaskStore, filter: TaskFilter, limit: number): Promise<Task[]> {
  const all: Task[] = [];
  let token: string | null = null;
  let pages = 0;
  do {
    const page = await store.list(filter, limit, token);
    expect(page.items.length).toBeLessThanOrEqual(limit);
    all.push(...page.items);
    token = page.nextToken;
    pages += 1;
    if (pages > 1000) throw new Error('pagination does not end');
  } while (token !== null);
  return all;
}

/**
 * The TaskStore port's contract, written against the interface only, so every adapter (SQLite
 * locally, DynamoDB on AWS) runs the same suite. `setup` gives an empty store.
 */
export function describeTaskStoreContract(
  name: string,
  setup: () => Promise<{ store: TaskStore; teardown(): Promise<void> }>,
): void {
  describe(`TaskStore contract: ${name}`, () => {
    let store: TaskStore;
    let teardown: () => Promise<void>;

    beforeEach(async () => {
      const made = await setup();
      store = made.store;
      teardown = () => made.teardown();
    });

    afterEach(async () => {
      await teardown();
    });

    describe('create and get', () => {
      it('returns a created task from get exactly as it was created', async () => {
        const task = makeTask({
          error: { code: 'HANDLER_ERROR', message: 'boom', retryable: true, attempt: 1 },
          progress: 0.5,
          progressMessage: 'half way',
        });

        const results = await store.create([plain(task)]);
        const read = await store.get(task.id);

        expect(results).toEqual([{ task, created: true }]);
        expect(read).toEqual(task);
      });

      it('returns null from get for an id that was never created', async () => {
        const read = await store.get('no-such-task');

        expect(read).toBeNull();
      });

      it('creates every item of one call and answers in the order given', async () => {
        const tasks = [makeTask(), makeTask(), makeTask()];

        const results = await store.create(tasks.map(plain));

        expect(results.map((r) => r.task.id)).toEqual(tasks.map((t) => t.id));
        expect(results.every((r) => r.created)).toBe(true);
        for (const task of tasks) expect(await store.get(task.id)).toEqual(task);
      });
    });

    describe('idempotency', () => {
      it('returns the first task, with created false, for a second create with a live key, and creates nothing', async () => {
        const first = makeTask({ idempotencyKey: 'key-1', createdAt: iso(T0) });
        const second = makeTask({ idempotencyKey: 'key-1', createdAt: iso(T0 + 60_000) });
        await store.create([withKey(first, T0 + HOUR)]);

        const results = await store.create([withKey(second, T0 + 60_000 + HOUR)]);

        expect(results).toEqual([{ task: first, created: false }]);
        expect(await store.get(second.id)).toBeNull();
        expect((await store.list({}, 100, null)).items.map((t) => t.id)).toEqual([first.id]);
      });

      it('creates anew when the key expired before the second createdAt, and the new task takes the key', async () => {
        const first = makeTask({ idempotencyKey: 'key-2', createdAt: iso(T0) });
        const second = makeTask({ idempotencyKey: 'key-2', createdAt: iso(T0 + 2000) });
        const third = makeTask({ idempotencyKey: 'key-2', createdAt: iso(T0 + 3000) });
        await store.create([withKey(first, T0 + 1000)]);

        const secondResults = await store.create([withKey(second, T0 + 2000 + HOUR)]);
        const thirdResults = await store.create([withKey(third, T0 + 3000 + HOUR)]);

        expect(secondResults).toEqual([{ task: second, created: true }]);
        expect(thirdResults).toEqual([{ task: second, created: false }]);
        const ids = (await store.list({}, 100, null)).items.map((t) => t.id);
        expect(ids.sort()).toEqual([first.id, second.id].sort());
      });

      it('answers a call mixing a repeated key and a new task item by item', async () => {
        const first = makeTask({ idempotencyKey: 'key-3' });
        const repeat = makeTask({ idempotencyKey: 'key-3', createdAt: iso(T0 + 1000) });
        const fresh = makeTask({ idempotencyKey: 'key-4', createdAt: iso(T0 + 1000) });
        await store.create([withKey(first, T0 + HOUR)]);

        const results = await store.create([withKey(repeat, T0 + HOUR), withKey(fresh, T0 + HOUR)]);

        expect(results).toEqual([
          { task: first, created: false },
          { task: fresh, created: true },
        ]);
      });

      it('creates the first of two items with the same key in one call, and answers the second with it', async () => {
        const before = makeTask();
        const first = makeTask({ idempotencyKey: 'key-5' });
        const between = makeTask();
        const again = makeTask({ idempotencyKey: 'key-5' });
        const after = makeTask();

        const results = await store.create([
          plain(before),
          withKey(first, T0 + HOUR),
          plain(between),
          withKey(again, T0 + HOUR),
          plain(after),
        ]);

        expect(results).toEqual([
          { task: before, created: true },
          { task: first, created: true },
          { task: between, created: true },
          { task: first, created: false },
          { task: after, created: true },
        ]);
        expect(await store.get(again.id)).toBeNull();
        const ids = (await store.list({}, 100, null)).items.map((t) => t.id);
        expect(ids.sort()).toEqual([before.id, first.id, between.id, after.id].sort());
      });

      it('never matches tasks that have no idempotency key', async () => {
        const a = makeTask();
        const b = makeTask();

        await store.create([plain(a)]);
        const results = await store.create([plain(b)]);

        expect(results).toEqual([{ task: b, created: true }]);
        expect((await store.list({}, 100, null)).items).toHaveLength(2);
      });
    });

    describe('update', () => {
      it('applies the patch, bumps the version by exactly one and sets updatedAt', async () => {
        const task = makeTask();
        await store.create([plain(task)]);
        const now = iso(T0 + 5000);
        const patch = {
          status: 'RUNNING' as const,
          attempts: 1,
          startedAt: now,
          leaseExpiresAt: iso(T0 + 35_000),
        };

        const updated = await store.update(
          task.id,
          patch,
          { version: 1, statusIn: ['QUEUED'], attempts: 0, cancelRequested: false },
          now,
        );

        const expected: Task = { ...task, ...patch, version: 2, updatedAt: now };
        expect(updated).toEqual(expected);
        expect(await store.get(task.id)).toEqual(expected);
      });

      it('bumps the version by one on each of several updates and stores a nested error', async () => {
        const task = makeTask();
        await store.create([plain(task)]);
        const error = { code: 'TIMEOUT', message: 'took too long', retryable: true, attempt: 1 };

        await store.update(task.id, { status: 'RUNNING' }, {}, iso(T0 + 1000));
        await store.update(task.id, { status: 'RETRYING', error }, { version: 2 }, iso(T0 + 2000));
        const third = await store.update(task.id, { progress: 0.25 }, { version: 3 }, iso(T0 + 3000));

        expect(third.version).toBe(4);
        expect(await store.get(task.id)).toEqual({
          ...task,
          status: 'RETRYING',
          error,
          progress: 0.25,
          version: 4,
          updatedAt: iso(T0 + 3000),
        });
      });

      it('clears a field that the patch sets to null', async () => {
        const task = makeTask({
          status: 'RUNNING',
          leaseExpiresAt: iso(T0 + 30_000),
          error: { code: 'X', message: 'y', retryable: false, attempt: null },
        });
        await store.create([plain(task)]);

        const updated = await store.update(task.id, { leaseExpiresAt: null, error: null }, {}, iso(T0 + 1));

        expect(updated.leaseExpiresAt).toBeNull();
        expect(updated.error).toBeNull();
        expect(await store.get(task.id)).toEqual(updated);
      });

      const failing: Array<[string, UpdateCondition]> = [
        ['a wrong version', { version: 2 }],
        ['a status not in statusIn', { statusIn: ['RUNNING', 'RETRYING'] }],
        ['an empty statusIn', { statusIn: [] }],
        ['wrong attempts', { attempts: 1 }],
        ['a cancelRequested mismatch', { cancelRequested: true }],
        ['one failing part among holding ones', { version: 1, statusIn: ['QUEUED'], attempts: 7 }],
      ];
      it.each(failing)(
        'fails with ConditionFailedError on %s and changes nothing',
        async (_label, condition) => {
          const task = makeTask();
          await store.create([plain(task)]);

          const attempt = store.update(
            task.id,
            { status: 'RUNNING', attempts: 1 },
            condition,
            iso(T0 + 1000),
          );

          await expect(attempt).rejects.toMatchObject({ name: 'ConditionFailedError' });
          expect(await store.get(task.id)).toEqual(task);
        },
      );

      it('fails with ConditionFailedError when the task does not exist, and creates nothing', async () => {
        const attempt = store.update('no-such-task', { status: 'RUNNING' }, {}, iso(T0));

        await expect(attempt).rejects.toMatchObject({ name: 'ConditionFailedError' });
        expect(await store.get('no-such-task')).toBeNull();
        expect((await store.list({}, 10, null)).items).toEqual([]);
      });

      it('lets exactly one of two writers that read the same version win', async () => {
        const task = makeTask();
        await store.create([plain(task)]);

        const outcomes = await Promise.allSettled([
          store.update(task.id, { status: 'RUNNING' }, { version: 1 }, iso(T0 + 1)),
          store.update(task.id, { status: 'CANCELLED' }, { version: 1 }, iso(T0 + 1)),
        ]);

        const won = outcomes.filter((o) => o.status === 'fulfilled');
        const lost = outcomes.filter((o) => o.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(1);
        expect((lost[0] as PromiseRejectedResult).reason).toMatchObject({ name: 'ConditionFailedError' });
        expect((await store.get(task.id))?.version).toBe(2);
      });
    });

    describe('deleteUnqueued', () => {
      it('removes the task when the version matches and frees its idempotency key', async () => {
        const task = makeTask({ idempotencyKey: 'key-del' });
        await store.create([withKey(task, T0 + HOUR)]);

        await store.deleteUnqueued(task.id, 1);

        expect(await store.get(task.id)).toBeNull();
        expect((await store.list({}, 10, null)).items).toEqual([]);
        const again = makeTask({ idempotencyKey: 'key-del', createdAt: iso(T0 + 1000) });
        expect(await store.create([withKey(again, T0 + HOUR)])).toEqual([{ task: again, created: true }]);
      });

      it('keeps the task when the version does not match', async () => {
        const task = makeTask();
        await store.create([plain(task)]);
        await store.update(task.id, { status: 'RUNNING' }, {}, iso(T0 + 1));

        await store.deleteUnqueued(task.id, 1);

        expect(await store.get(task.id)).toMatchObject({ id: task.id, version: 2, status: 'RUNNING' });
      });

      it('keeps the idempotency key in force when the version does not match', async () => {
        const task = makeTask({ idempotencyKey: 'key-keep' });
        await store.create([withKey(task, T0 + HOUR)]);
        const running = await store.update(task.id, { status: 'RUNNING' }, {}, iso(T0 + 1));

        await store.deleteUnqueued(task.id, 1);
        const repeat = makeTask({ idempotencyKey: 'key-keep', createdAt: iso(T0 + 1000) });
        const results = await store.create([withKey(repeat, T0 + 1000 + HOUR)]);

        expect(results).toEqual([{ task: running, created: false }]);
        expect(await store.get(repeat.id)).toBeNull();
      });

      it('does nothing for an id that does not exist', async () => {
        const task = makeTask();
        await store.create([plain(task)]);

        await store.deleteUnqueued('no-such-task', 1);

        expect(await store.get(task.id)).toEqual(task);
      });
    });

    describe('list', () => {
      const statuses: TaskStatus[] = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED'];
      const types = ['SEND_EMAIL', 'IMAGE_RESIZE', 'PROCESS_DATA'];

      /** 25 tasks one second apart, created out of order, with statuses and types mixed. */
      async function seed(): Promise<Task[]> {
        const tasks = Array.from({ length: 25 }, (_, i) =>
          makeTask({
            createdAt: iso(T0 + i * 1000),
            status: statuses[i % statuses.length]!,
            type: types[i % types.length]!,
          }),
        );
        const order = tasks.map((_, i) => (i * 7) % tasks.length);
        for (let i = 0; i < order.length; i += 5) {
          await store.create(order.slice(i, i + 5).map((j) => plain(tasks[j]!)));
        }
        return tasks;
      }

      const newestFirst = (tasks: Task[]): string[] =>
        [...tasks].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt)).map((t) => t.id);

      it('lists newest first', async () => {
        const tasks = await seed();

        const page = await store.list({}, 100, null);

        expect(page.items.map((t) => t.id)).toEqual(newestFirst(tasks));
        expect(page.nextToken).toBeNull();
      });

      it('filters by status', async () => {
        const tasks = await seed();

        const page = await store.list({ status: 'RUNNING' }, 100, null);

        expect(page.items.map((t) => t.id)).toEqual(newestFirst(tasks.filter((t) => t.status === 'RUNNING')));
      });

      it('filters by type', async () => {
        const tasks = await seed();

        const page = await store.list({ type: 'IMAGE_RESIZE' }, 100, null);

        expect(page.items.map((t) => t.id)).toEqual(
          newestFirst(tasks.filter((t) => t.type === 'IMAGE_RESIZE')),
        );
      });

      it('filters by status and type together', async () => {
        const tasks = await seed();

        const page = await store.list({ status: 'QUEUED', type: 'PROCESS_DATA' }, 100, null);

        const expected = newestFirst(tasks.filter((t) => t.status === 'QUEUED' && t.type === 'PROCESS_DATA'));
        expect(expected.length).toBeGreaterThan(0);
        expect(page.items.map((t) => t.id)).toEqual(expected);
      });

      it('treats null filter fields as no filter', async () => {
        const tasks = await seed();

        const page = await store.list({ status: null, type: null }, 100, null);

        expect(page.items).toHaveLength(tasks.length);
      });

      it('filters by the current status after an update', async () => {
        const task = makeTask();
        await store.create([plain(task)]);
        await store.update(task.id, { status: 'RUNNING' }, {}, iso(T0 + 1));

        const queued = await store.list({ status: 'QUEUED' }, 10, null);
        const running = await store.list({ status: 'RUNNING' }, 10, null);

        expect(queued.items).toEqual([]);
        expect(running.items.map((t) => t.id)).toEqual([task.id]);
      });

      it('paginates with nextToken until null, without duplicates or gaps', async () => {
        const tasks = await seed();

        const all = await listAll(store, {}, 7);

        expect(all.map((t) => t.id)).toEqual(newestFirst(tasks));
      });

      it('paginates a filtered listing without duplicates or gaps', async () => {
        const tasks = await seed();

        const all = await listAll(store, { status: 'QUEUED' }, 2);

        expect(all.map((t) => t.id)).toEqual(newestFirst(tasks.filter((t) => t.status === 'QUEUED')));
      });

      it('paginates tasks that share a createdAt without duplicates or gaps', async () => {
        const tasks = Array.from({ length: 6 }, () => makeTask({ createdAt: iso(T0) }));
        await store.create(tasks.map(plain));

        const all = await listAll(store, {}, 4);

        expect(all.map((t) => t.id).sort()).toEqual(tasks.map((t) => t.id).sort());
      });

      it('paginates a listing by status across types whose tasks share a createdAt', async () => {
        const tasks = Array.from({ length: 9 }, (_, i) =>
          makeTask({ createdAt: iso(T0 + (i % 2)), type: types[i % types.length]! }),
        );
        await store.create(tasks.map(plain));

        const all = await listAll(store, { status: 'QUEUED' }, 2);

        expect(all.map((t) => t.id).sort()).toEqual(tasks.map((t) => t.id).sort());
        // Newest first: the three or four of the later millisecond come before the rest.
        const later = new Set(tasks.filter((_, i) => i % 2 === 1).map((t) => t.id));
        expect(all.slice(0, later.size).every((t) => later.has(t.id))).toBe(true);
      });

      it('returns null nextToken when the last page is exactly full', async () => {
        const tasks = Array.from({ length: 4 }, (_, i) => makeTask({ createdAt: iso(T0 + i) }));
        await store.create(tasks.map(plain));

        const first = await store.list({}, 2, null);
        const second = await store.list({}, 2, first.nextToken);

        expect(first.nextToken).not.toBeNull();
        expect(second.items).toHaveLength(2);
        // DynamoDB may hand out a token for an empty last page; then that page must be empty.
        if (second.nextToken !== null) {
          expect(await store.list({}, 2, second.nextToken)).toEqual({ items: [], nextToken: null });
        }
      });

      it('rejects a garbage nextToken with ValidationError', async () => {
        await seed();

        const attempt = (async () => store.list({}, 5, 'not a token at all'))();

        await expect(attempt).rejects.toMatchObject({ name: 'ValidationError' });
      });

      it('reports a garbage nextToken as a rejected promise, not a synchronous throw', async () => {
        let promise: Promise<unknown> | undefined;
        let thrown: unknown;
        try {
          promise = store.list({}, 5, 'not a token at all');
        } catch (error) {
          thrown = error;
        }

        expect(thrown).toBeUndefined();
        await expect(promise).rejects.toMatchObject({ name: 'ValidationError' });
      });
    });

    describe('counts', () => {
      it('reports zero for every status and no waiting task on an empty store', async () => {
        const result = await store.counts(iso(T0));

        expect(result).toEqual({
          counts: { QUEUED: 0, RUNNING: 0, RETRYING: 0, SUCCEEDED: 0, FAILED: 0, CANCELLED: 0 },
          oldestWaitingRunAt: null,
        });
      });

      it('counts per status and gives the runAt of the oldest QUEUED or RETRYING task that is due', async () => {
        const now = T0 + 100_000;
        const queuedDue = makeTask({ status: 'QUEUED', runAt: iso(T0 + 10_000) });
        const queuedLater = makeTask({ status: 'QUEUED', runAt: iso(T0 + 200_000) });
        const retryingDue = makeTask({ status: 'RETRYING', runAt: iso(T0 + 5000) });
        const runningOld = makeTask({ status: 'RUNNING', runAt: iso(T0) });
        const succeededOld = makeTask({ status: 'SUCCEEDED', runAt: iso(T0) });
        const failedOld = makeTask({ status: 'FAILED', runAt: iso(T0) });
        await store.create(
          [queuedDue, queuedLater, retryingDue, runningOld, succeededOld, failedOld].map(plain),
        );

        const result = await store.counts(iso(now));

        expect(result).toEqual({
          counts: { QUEUED: 2, RUNNING: 1, RETRYING: 1, SUCCEEDED: 1, FAILED: 1, CANCELLED: 0 },
          oldestWaitingRunAt: iso(T0 + 5000),
        });
      });

      it('follows status changes and counts a task whose runAt equals now as waiting', async () => {
        const queued = makeTask({ status: 'QUEUED', runAt: iso(T0 + 10_000) });
        const retrying = makeTask({ status: 'RETRYING', runAt: iso(T0 + 5000) });
        await store.create([plain(queued), plain(retrying)]);

        await store.update(retrying.id, { status: 'RUNNING' }, {}, iso(T0 + 6000));
        const result = await store.counts(iso(T0 + 10_000));

        expect(result).toEqual({
          counts: { QUEUED: 1, RUNNING: 1, RETRYING: 0, SUCCEEDED: 0, FAILED: 0, CANCELLED: 0 },
          oldestWaitingRunAt: iso(T0 + 10_000),
        });
      });

      it('reports no waiting task when every QUEUED or RETRYING task is due later', async () => {
        await store.create([
          plain(makeTask({ status: 'QUEUED', runAt: iso(T0 + 60_000) })),
          plain(makeTask({ status: 'RETRYING', runAt: iso(T0 + 30_000) })),
        ]);

        const result = await store.counts(iso(T0));

        expect(result.oldestWaitingRunAt).toBeNull();
        expect(result.counts.QUEUED + result.counts.RETRYING).toBe(2);
      });
    });
  });
}
