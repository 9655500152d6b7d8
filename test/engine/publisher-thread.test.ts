import { afterEach, describe, expect, it, vi } from 'vitest';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteTaskStore } from '../../src/adapters/sqlite/sqlite-task-store.ts';
import {
  SubscriptionHub,
  basicFilter,
  enhancedFilter,
  type PublishedEvent,
} from '../../src/appsync/subscription-hub.ts';
import type { Task } from '../../src/domain/task.ts';
import { SqliteChangeFeed } from '../../src/adapters/sqlite/sqlite-change-feed.ts';
import { ChangeFeedPump } from '../../src/local/change-feed-pump.ts';
import { MAX_EVENTS_IN_FLIGHT, PublisherThread } from '../../src/local/publisher-thread.ts';
import { REPO_ROOT } from '../../src/local/runtime.ts';
import { iso, makeTask, recordingLogger, T0 } from '../helpers/contract-fixtures.ts';
import { tempSqlite } from '../helpers/contract-sqlite.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setUp(options: { workerUrl?: URL; restartAfterMs?: number; mirrorWaitMs?: number } = {}) {
  const sqlite = tempSqlite();
  cleanups.push(() => sqlite.cleanup());
  const store = new SqliteTaskStore(sqlite.db);
  const hub = new SubscriptionHub();
  const logger = recordingLogger();
  const thread = await PublisherThread.start({
    databasePath: sqlite.path,
    durability: 'normal',
    logLevel: 'warn',
    repoRoot: REPO_ROOT,
    hub,
    logger,
    ...options,
  });
  cleanups.push(() => thread.stop());
  sqlite.db.onCommit(() => thread.poke());
  return { store, hub, thread, logger };
}

/** Collects what a subscription receives. */
function collect(iterator: AsyncIterableIterator<PublishedEvent>): PublishedEvent[] {
  const events: PublishedEvent[] = [];
  cleanups.push(() => iterator.return?.());
  void (async () => {
    for await (const event of iterator) events.push(event);
  })();
  return events;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function runToSuccess(store: SqliteTaskStore, task: Task): Promise<void> {
  await store.create([{ task, idempotencyKeyExpiresAt: null }]);
  const running = await store.update(task.id, { status: 'RUNNING' }, { version: 1 }, iso(T0 + 1));
  await store.update(
    task.id,
    { status: 'SUCCEEDED', result: '{"ok":true}' },
    { version: running.version },
    iso(T0 + 2),
  );
}

describe('PublisherThread (the change feed and publishTaskUpdate in a thread of their own)', () => {
  it('delivers every committed change to the subscribers of this thread, in commit order', async () => {
    const { store, hub } = await setUp();
    const events = collect(await hub.subscribe(['publishTaskUpdate'], basicFilter({})));
    const task = makeTask();

    await runToSuccess(store, task);

    await until(() => events.length === 3, 'three events');
    expect(events.map((e) => [e['id'], e['status'], e['version']])).toEqual([
      [task.id, 'QUEUED', 1],
      [task.id, 'RUNNING', 2],
      [task.id, 'SUCCEEDED', 3],
    ]);
    // The event is the mutation's selection: the payload is not in it.
    expect(events[2]).not.toHaveProperty('payload');
    expect(events[2]).toMatchObject({ result: { ok: true } });
  });

  it('runs publishTaskUpdate only for updates a subscriber would take, judged on its mirror of them', async () => {
    const { store, hub } = await setUp();
    const publish = vi.spyOn(hub, 'publish');
    const events = collect(await hub.subscribe(['publishTaskUpdate'], basicFilter({ status: 'SUCCEEDED' })));
    const task = makeTask();

    await runToSuccess(store, task);

    await until(() => events.length === 1, 'the SUCCEEDED event');
    await runToSuccess(store, makeTask());
    await until(() => events.length === 2, 'the second SUCCEEDED event');
    // QUEUED and RUNNING reached nobody, so they were never published back to this thread.
    expect(publish.mock.calls.map(([, event]) => event['status'])).toEqual(['SUCCEEDED', 'SUCCEEDED']);
  });

  it('mirrors enhanced filters and forgets a subscriber that has gone', async () => {
    const { store, hub } = await setUp();
    const publish = vi.spyOn(hub, 'publish');
    const task = makeTask();
    const iterator = await hub.subscribe(
      ['publishTaskUpdate'],
      enhancedFilter({ filterGroup: [{ filters: [{ fieldName: 'id', operator: 'eq', value: task.id }] }] }),
    );
    const events = collect(iterator);

    await runToSuccess(store, makeTask());
    await runToSuccess(store, task);
    await until(() => events.length === 3, "the subscribed task's three events");
    expect(publish).toHaveBeenCalledTimes(3);

    await iterator.return!();
    const other = makeTask();
    const watcher = collect(await hub.subscribe(['publishTaskUpdate'], basicFilter({ id: other.id })));
    await store.update(task.id, { progress: 50 }, { version: 3 }, iso(T0 + 3));
    await runToSuccess(store, other);
    await until(() => watcher.length === 3, "the second subscriber's events");
    // The change to the first subscriber's task was not published once that subscriber had gone.
    expect(publish).toHaveBeenCalledTimes(6);
  });

  it('answers a subscription only once the thread knows it, so a change committed next reaches it', async () => {
    const { store, hub } = await setUp();
    // Other changes commit all the while, so the thread is mostly in the middle of reading the feed.
    const noise = makeTask();
    await store.create([{ task: noise, idempotencyKeyExpiresAt: null }]);
    let writing = true;
    const writer = (async () => {
      for (let version = 1; writing; version++) {
        await store.update(noise.id, { progress: version % 100 }, { version }, iso(T0 + version));
      }
    })();
    cleanups.push(() => {
      writing = false;
      return writer;
    });
    for (let i = 0; i < 50; i++) {
      const task = makeTask();
      const events = collect(await hub.subscribe(['publishTaskUpdate'], basicFilter({ id: task.id })));
      await store.create([{ task, idempotencyKeyExpiresAt: null }]);
      await until(() => events.length === 1, `the QUEUED event of subscription ${i}`);
    }
  });

  it('has at most MAX_EVENTS_IN_FLIGHT events on their way to this thread at a time', async () => {
    const { store, hub } = await setUp();
    const events = collect(await hub.subscribe(['publishTaskUpdate'], basicFilter({})));
    const tasks = Array.from({ length: MAX_EVENTS_IN_FLIGHT + 500 }, () => makeTask());
    await store.create(tasks.map((task) => ({ task, idempotencyKeyExpiresAt: null })));
    await new Promise((resolve) => setImmediate(resolve)); // the poke goes out

    // This thread takes no message for 3 s while the publisher thread publishes.
    const until3s = Date.now() + 3000;
    while (Date.now() < until3s) {
      // busy
    }
    let arrivedAtOnce = -1;
    setImmediate(() => (arrivedAtOnce = events.length));
    await until(() => events.length === tasks.length, 'every event');

    expect(arrivedAtOnce).toBeGreaterThan(0);
    expect(arrivedAtOnce).toBeLessThanOrEqual(MAX_EVENTS_IN_FLIGHT);
  });

  it('after a crash, a new thread publishes again what the old one had not, to old and new subscribers', async () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'tq-crash-')), 'crashed');
    process.env['PUBLISHER_CRASH_MARKER'] = marker;
    cleanups.push(() => delete process.env['PUBLISHER_CRASH_MARKER']);
    const { store, hub, thread } = await setUp({
      workerUrl: new URL('../fixtures/engine/publisher-crashes-once.ts', import.meta.url),
      restartAfterMs: 300,
    });
    const tasks = [makeTask(), makeTask(), makeTask()];
    const early = collect(await hub.subscribe(['publishTaskUpdate'], basicFilter({ id: tasks[0]!.id })));

    await store.create(tasks.map((task) => ({ task, idempotencyKeyExpiresAt: null })));
    await until(() => existsSync(marker) && early.length === 1, 'the first event and the crash');
    // Subscribed while no thread runs: the next thread starts with this subscriber in its mirror, and
    // it is the only one that takes the third task's update.
    const late = collect(await hub.subscribe(['publishTaskUpdate'], basicFilter({ id: tasks[2]!.id })));

    await until(() => late.length === 1, "the third task's event, which the first thread never published");
    expect(thread.restarts).toBe(1);
    expect(late[0]).toMatchObject({ id: tasks[2]!.id, status: 'QUEUED' });
    // The first task's change was published again (at least once), and nothing else reached `early`.
    await until(() => early.length === 2, "the first task's event again");
    expect(early.every((event) => event['id'] === tasks[0]!.id)).toBe(true);
  });

  it('starts another thread when one ends unexpectedly, and says so', async () => {
    const { thread, logger } = await setUp({
      workerUrl: new URL('../fixtures/engine/publisher-exits-on-poke.ts', import.meta.url),
      restartAfterMs: 10,
    });

    thread.poke();

    await until(() => thread.restarts === 1, 'a restart');
    expect(logger.lines).toContainEqual({
      level: 'error',
      message: 'the publisher thread ended unexpectedly; starting another',
    });
  });

  it('starts a subscription anyway, with a warning, when the thread does not take it in time', async () => {
    // This thread never answers subscriber messages.
    const { hub, logger } = await setUp({
      workerUrl: new URL('../fixtures/engine/publisher-exits-on-poke.ts', import.meta.url),
      mirrorWaitMs: 50,
    });

    const iterator = await hub.subscribe(['publishTaskUpdate'], basicFilter({}));

    await iterator.return!();
    expect(logger.lines).toContainEqual({
      level: 'warn',
      message: 'the publisher thread did not take a subscriber in time; it may miss the next updates',
    });
  });

  it('ends a thread that does not stop in time, and says so', async () => {
    const { thread, logger } = await setUp({
      workerUrl: new URL('../fixtures/engine/publisher-never-stops.ts', import.meta.url),
    });

    await thread.stop();

    expect(logger.lines).toContainEqual({
      level: 'warn',
      message: 'the publisher thread did not stop in time; ending it',
    });
  }, 15_000);

  it('refuses to start, with the reason, when the thread ends before it is ready', async () => {
    const sqlite = tempSqlite();
    cleanups.push(() => sqlite.cleanup());
    await expect(
      PublisherThread.start({
        databasePath: sqlite.path,
        durability: 'normal',
        logLevel: 'warn',
        repoRoot: REPO_ROOT,
        hub: new SubscriptionHub(),
        logger: recordingLogger(),
        workerUrl: new URL('../fixtures/engine/publisher-fails-to-start.ts', import.meta.url),
      }),
    ).rejects.toThrow(/cannot open the publisher's database/);
  });
});

describe('ChangeFeedPump', () => {
  it('lets the thread handle its messages and timers between batches of a long feed', async () => {
    const sqlite = tempSqlite();
    cleanups.push(() => sqlite.cleanup());
    const store = new SqliteTaskStore(sqlite.db);
    await store.create(
      Array.from({ length: 50 }, () => ({ task: makeTask(), idempotencyKeyExpiresAt: null })),
    );
    const log: string[] = [];
    let drained!: () => void;
    const done = new Promise<void>((resolve) => (drained = resolve));
    const pump = new ChangeFeedPump({
      feed: new SqliteChangeFeed(sqlite.db),
      logger: recordingLogger(),
      batchSize: 10,
      handler: async () => {
        if (log.length === 0) setImmediate(() => log.push('timer'));
        log.push('batch');
        if (log.filter((entry) => entry === 'batch').length === 5) setTimeout(drained, 20);
        return { batchItemFailures: [] };
      },
    });
    cleanups.push(() => pump.stop());

    pump.poke();
    await done;

    expect(log.indexOf('timer')).toBeGreaterThan(0);
    expect(log.indexOf('timer')).toBeLessThan(log.length - 1);
  });
});
