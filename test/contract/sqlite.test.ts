import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { SqliteChangeFeed } from '../../src/adapters/sqlite/sqlite-change-feed.ts';
import { SqliteDatabase, StorageError } from '../../src/adapters/sqlite/sqlite-database.ts';
import { SqliteTaskQueue } from '../../src/adapters/sqlite/sqlite-task-queue.ts';
import {
  SqliteTaskStore,
  TYPES_IN_STATUS_SQL,
  listSql,
} from '../../src/adapters/sqlite/sqlite-task-store.ts';
import { taskFromImage } from '../../src/adapters/dynamodb/task-image.ts';
import { taskFromItem } from '../../src/adapters/dynamodb/task-item.ts';
import type { Task } from '../../src/domain/task.ts';
import { T0, iso, makeTask, manualClock, recordingLogger } from '../helpers/contract-fixtures.ts';
import { RESTART_AFTER_FRAMES, checkpointEvery, startCheckpointer } from '../../src/local/checkpointer.ts';
import { tempSqlite } from '../helpers/contract-sqlite.ts';
import { describeTaskStoreContract } from './task-store-contract.ts';
import { describeTaskQueueContract } from './task-queue-contract.ts';

describeTaskStoreContract('SQLite', async () => {
  const sqlite = tempSqlite();
  return {
    store: new SqliteTaskStore(sqlite.db),
    teardown: async () => sqlite.cleanup(),
  };
});

describeTaskQueueContract('SQLite', async () => {
  const sqlite = tempSqlite();
  const clock = manualClock();
  const queue = new SqliteTaskQueue(sqlite.db, clock, { maxReceiveCount: 100 });
  return {
    queue,
    clock: { advance: async (ms: number) => clock.advance(ms) },
    deadLetters: async () => queue.deadLetters(100).map(({ body, reason }) => ({ body, reason })),
    teardown: async () => sqlite.cleanup(),
  };
});

const plain = (task: Task) => ({ task, idempotencyKeyExpiresAt: null });

describe('SqliteChangeFeed', () => {
  let sqlite: ReturnType<typeof tempSqlite>;
  let store: SqliteTaskStore;
  let feed: SqliteChangeFeed;

  beforeEach(() => {
    sqlite = tempSqlite();
    store = new SqliteTaskStore(sqlite.db);
    feed = new SqliteChangeFeed(sqlite.db);
  });

  afterEach(() => {
    sqlite.cleanup();
  });

  function imagesOf(records: ReturnType<SqliteChangeFeed['read']>): Array<Task | null> {
    return records.map((r) =>
      taskFromItem(unmarshall(r.dynamodb!.NewImage as Record<string, AttributeValue>)),
    );
  }

  it('appends every store write, in commit order, as a stream record whose NewImage is the new task', async () => {
    const a = makeTask({ error: { code: 'E', message: 'm', retryable: true, attempt: 1 } });
    const b = makeTask({ createdAt: iso(T0 + 1), expiresAt: iso(T0 + 86_400_000) });
    const [createdA] = await store.create([plain(a)]);
    const a2 = await store.update(a.id, { status: 'RUNNING', attempts: 1 }, { version: 1 }, iso(T0 + 10));
    const [createdB] = await store.create([plain(b)]);
    const a3 = await store.update(a.id, { status: 'SUCCEEDED', result: '{"ok":true}' }, {}, iso(T0 + 20));

    const records = feed.read(100);

    expect(records.map((r) => r.eventName)).toEqual(['INSERT', 'MODIFY', 'INSERT', 'MODIFY']);
    expect(records.map((r) => r.dynamodb?.Keys?.['id']?.S)).toEqual([a.id, a.id, b.id, a.id]);
    expect(imagesOf(records)).toEqual([createdA!.task, a2, createdB!.task, a3]);
    const seqs = records.map((r) => Number(r.dynamodb?.SequenceNumber));
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(4);
  });

  it('appends nothing for a failed conditional update or an idempotent repeat', async () => {
    const task = makeTask({ idempotencyKey: 'k' });
    await store.create([{ task, idempotencyKeyExpiresAt: iso(T0 + 60_000) }]);

    await expect(store.update(task.id, { status: 'RUNNING' }, { version: 9 }, iso(T0))).rejects.toMatchObject(
      {
        name: 'ConditionFailedError',
      },
    );
    await store.create([
      {
        task: makeTask({ idempotencyKey: 'k', createdAt: iso(T0 + 1) }),
        idempotencyKeyExpiresAt: iso(T0 + 60_000),
      },
    ]);

    expect(feed.pending()).toBe(1);
    expect(imagesOf(feed.read(10))).toEqual([task]);
  });

  it('appends in the order the writes were issued when they share one group commit', async () => {
    const tasks = Array.from({ length: 20 }, (_, i) => makeTask({ createdAt: iso(T0 + i) }));
    await store.create(tasks.map(plain));

    await Promise.all(tasks.map((t, i) => store.update(t.id, { progress: i / 20 }, {}, iso(T0 + 100))));

    const modified = feed.read(100).filter((r) => r.eventName === 'MODIFY');
    expect(imagesOf(modified).map((t) => t?.id)).toEqual(tasks.map((t) => t.id));
  });

  it('forgets the changes up to and including an acknowledged seq and keeps the rest', async () => {
    const tasks = [makeTask(), makeTask(), makeTask(), makeTask()];
    for (const task of tasks) await store.create([plain(task)]);
    const before = feed.read(10);

    feed.acknowledge(Number(before[1]!.dynamodb!.SequenceNumber));
    const after = feed.read(10);
    // Until the acknowledged rows are deleted, a new reader (a restarted runtime) sees them again.
    const afterRestart = new SqliteChangeFeed(sqlite.db).read(10);
    await feed.forget();
    const afterForget = new SqliteChangeFeed(sqlite.db).read(10);

    expect(feed.pending()).toBe(2);
    expect(after.map((r) => r.eventID)).toEqual([before[2]!.eventID, before[3]!.eventID]);
    expect(afterRestart.map((r) => r.eventID)).toEqual(before.map((r) => r.eventID));
    expect(afterForget.map((r) => r.eventID)).toEqual([before[2]!.eventID, before[3]!.eventID]);
  });

  it('deletes acknowledged changes on its own shortly after', async () => {
    const timed = new SqliteChangeFeed(sqlite.db, { forgetEveryMs: 20 });
    await store.create([plain(makeTask()), plain(makeTask())]);
    const records = timed.read(10);

    timed.acknowledge(Number(records.at(-1)!.dynamodb!.SequenceNumber));
    await vi.waitFor(() => expect(new SqliteChangeFeed(sqlite.db).read(10)).toEqual([]));
  });

  it("reads the store's own changes from its memory, as the same records parsing the table gives", async () => {
    const own = new SqliteChangeFeed(sqlite.db, { written: store });
    const a = makeTask();
    await store.create([plain(a), plain(makeTask({ createdAt: iso(T0 + 1) }))]);
    await store.update(a.id, { status: 'RUNNING', progress: 0.5 }, { version: 1 }, iso(T0 + 10));
    // A change written by another connection is not in this store's memory: it is parsed.
    const other = new SqliteDatabase(sqlite.path);
    await new SqliteTaskStore(other).update(a.id, { progress: 0.75 }, { version: 2 }, iso(T0 + 20));
    other.close();

    const fromMemory = own.read(10);
    const parsed = feed.read(10);

    expect(fromMemory).toHaveLength(4);
    expect(imagesOf(fromMemory)).toEqual(imagesOf(parsed));
    expect(fromMemory.map((r) => taskFromImage(r.dynamodb!.NewImage as never))).toEqual(imagesOf(parsed));
    expect(JSON.stringify(fromMemory)).toBe(JSON.stringify(parsed));
  });

  it('forgets remembered changes on a rollback, whose sequence numbers the next change may take', async () => {
    const own = new SqliteChangeFeed(sqlite.db, { written: store });
    const lost = makeTask();
    await Promise.allSettled([
      store.create([plain(lost)]),
      sqlite.db.write(() => {
        // What SQLite does on its own after a full disk or an I/O error: the whole group is gone.
        sqlite.db.db.exec('ROLLBACK');
        throw new Error('disk I/O error');
      }),
    ]);
    // The next change, from another connection, takes the sequence number the lost one had.
    const kept = makeTask({ createdAt: iso(T0 + 1) });
    const other = new SqliteDatabase(sqlite.path);
    await new SqliteTaskStore(other).create([plain(kept)]);
    other.close();

    const records = own.read(10);

    expect(records.map((r) => r.dynamodb?.Keys?.['id']?.S)).toEqual([kept.id]);
    expect(imagesOf(records)).toEqual([kept]);
    expect(taskFromImage(records[0]!.dynamodb!.NewImage as never)).toEqual(kept);
  });

  it('forgets remembered changes of a write that failed and was undone alone, in a replayed group', async () => {
    const own = new SqliteChangeFeed(sqlite.db, { written: store });
    const existing = makeTask();
    await store.create([plain(existing)]);
    own.acknowledge(Number(own.read(10).at(-1)!.dynamodb!.SequenceNumber));
    // The write records a change for `lost`, then fails on a task id that exists: undone as a whole.
    const lost = makeTask();
    const failed = await store
      .create([
        plain(lost),
        { task: makeTask({ idempotencyKey: 'k' }), idempotencyKeyExpiresAt: iso(T0 + 3_600_000) },
        plain(existing),
      ])
      .then(
        () => null,
        (error: unknown) => error,
      );
    // The next change, from another connection, takes the sequence number the undone one had.
    const other = new SqliteDatabase(sqlite.path);
    const updated = await new SqliteTaskStore(other).update(
      existing.id,
      { progress: 0.5 },
      { version: 1 },
      iso(T0 + 5),
    );
    other.close();

    const records = own.read(10);

    expect(failed).toBeInstanceOf(Error);
    expect(records.map((r) => r.dynamodb?.Keys?.['id']?.S)).toEqual([existing.id]);
    expect(taskFromImage(records[0]!.dynamodb!.NewImage as never)).toEqual(updated);
  });

  it('reads at most max records, oldest first', async () => {
    const tasks = [makeTask(), makeTask(), makeTask()];
    for (const task of tasks) await store.create([plain(task)]);

    const records = feed.read(2);

    expect(imagesOf(records).map((t) => t?.id)).toEqual([tasks[0]!.id, tasks[1]!.id]);
  });
});

describe('SqliteTaskQueue', () => {
  let sqlite: ReturnType<typeof tempSqlite>;

  beforeEach(() => {
    sqlite = tempSqlite();
  });

  afterEach(() => {
    sqlite.cleanup();
  });

  it('moves a message received more than maxReceiveCount times to the dead-letter queue', async () => {
    const clock = manualClock();
    const queue = new SqliteTaskQueue(sqlite.db, clock, { maxReceiveCount: 2 });
    await queue.send([{ body: 'poison' }]);

    const first = await queue.receive(1, 10);
    clock.advance(11_000);
    const second = await queue.receive(1, 10);
    clock.advance(11_000);
    const third = await queue.receive(1, 10);
    clock.advance(11_000);
    const fourth = await queue.receive(1, 10);

    expect(first.map((m) => m.receiveCount)).toEqual([1]);
    expect(second.map((m) => m.receiveCount)).toEqual([2]);
    expect(third).toEqual([]);
    expect(fourth).toEqual([]);
    const dead = queue.deadLetters(10);
    expect(dead).toHaveLength(1);
    expect(dead[0]!.body).toBe('poison');
    expect(dead[0]!.reason).toMatch(/received 2 times/);
    expect(queue.depth()).toEqual({ visible: 0, inFlightOrDelayed: 0, dead: 1 });
  });

  it('still delivers the other messages of a receive in which one is dead-lettered', async () => {
    const clock = manualClock();
    const queue = new SqliteTaskQueue(sqlite.db, clock, { maxReceiveCount: 1 });
    await queue.send([{ body: 'old' }]);
    await queue.receive(1, 10);
    clock.advance(11_000);
    await queue.send([{ body: 'new' }]);

    const received = await queue.receive(10, 10);

    expect(received.map((m) => m.body)).toEqual(['new']);
    expect(queue.deadLetters(10).map((d) => d.body)).toEqual(['old']);
  });

  it('does not delete with a stale receipt handle from before a redelivery', async () => {
    const clock = manualClock();
    const queue = new SqliteTaskQueue(sqlite.db, clock, { maxReceiveCount: 100 });
    await queue.send([{ body: 'stale' }]);
    const [first] = await queue.receive(1, 10);
    clock.advance(11_000);
    const [second] = await queue.receive(1, 10);

    await queue.delete([first!.receiptHandle]);
    clock.advance(11_000);
    const third = await queue.receive(1, 10);

    expect(second!.receiveCount).toBe(2);
    expect(third).toHaveLength(1);
    expect(third[0]).toMatchObject({ messageId: first!.messageId, receiveCount: 3 });
  });

  it('makes in-flight messages visible at once on releaseInFlight, and leaves delayed ones hidden', async () => {
    const clock = manualClock();
    const queue = new SqliteTaskQueue(sqlite.db, clock, { maxReceiveCount: 10 });
    await queue.send([{ body: 'a' }, { body: 'b' }]);
    await queue.receive(10, 300);
    await queue.send([{ body: 'later', delaySeconds: 60 }]);

    const released = await queue.releaseInFlight();
    const received = await queue.receive(10, 300);

    expect(released).toBe(2);
    expect(received.map((m) => [m.body, m.receiveCount]).sort()).toEqual([
      ['a', 2],
      ['b', 2],
    ]);
  });
});

describe('SqliteTaskStore.sweepExpired', () => {
  let sqlite: ReturnType<typeof tempSqlite>;
  let store: SqliteTaskStore;

  beforeEach(() => {
    sqlite = tempSqlite();
    store = new SqliteTaskStore(sqlite.db);
  });

  afterEach(() => {
    sqlite.cleanup();
  });

  it('deletes the tasks whose expiresAt has passed and no others', async () => {
    const expired = makeTask({ status: 'SUCCEEDED', expiresAt: iso(T0 + 1000) });
    const atNow = makeTask({ status: 'FAILED', expiresAt: iso(T0 + 5000) });
    const later = makeTask({ status: 'SUCCEEDED', expiresAt: iso(T0 + 60_000) });
    const never = makeTask({ status: 'QUEUED', expiresAt: null });
    await store.create([expired, atNow, later, never].map(plain));

    const removed = await store.sweepExpired(T0 + 5000, 100);

    expect(removed).toBe(2);
    expect(await store.get(expired.id)).toBeNull();
    expect(await store.get(atNow.id)).toBeNull();
    expect(await store.get(later.id)).toEqual(later);
    expect(await store.get(never.id)).toEqual(never);
    expect((await store.counts(iso(T0))).counts).toMatchObject({ SUCCEEDED: 1, FAILED: 0, QUEUED: 1 });
  });

  it('removes at most max tasks per sweep', async () => {
    const tasks = Array.from({ length: 5 }, () => makeTask({ status: 'SUCCEEDED', expiresAt: iso(T0) }));
    await store.create(tasks.map(plain));

    const first = await store.sweepExpired(T0 + 1, 3);
    const second = await store.sweepExpired(T0 + 1, 3);

    expect([first, second]).toEqual([3, 2]);
  });

  it('sweeps a task whose expiresAt was set by an update', async () => {
    const task = makeTask();
    await store.create([plain(task)]);
    await store.update(task.id, { status: 'SUCCEEDED', expiresAt: iso(T0 + 10) }, {}, iso(T0 + 1));

    const removed = await store.sweepExpired(T0 + 10, 100);

    expect(removed).toBe(1);
    expect(await store.get(task.id)).toBeNull();
  });
});

describe('SqliteDatabase', () => {
  const dirs: string[] = [];

  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function tempPath(): string {
    const dir = mkdtempSync(join(tmpdir(), 'tq-'));
    dirs.push(dir);
    return join(dir, 'tasks.db');
  }

  /** status_counts as kept by the writes, and as the rows say; they must agree. */
  function countsOf(db: SqliteDatabase): { kept: Record<string, number>; real: Record<string, number> } {
    const rows = (sql: string) =>
      Object.fromEntries(
        (db.db.prepare(sql).all() as Array<{ status: string; n: number }>)
          .filter((r) => r.n !== 0)
          .map((r) => [r.status, r.n]),
      );
    return {
      kept: rows('SELECT status, n FROM status_counts'),
      real: rows('SELECT status, count(*) AS n FROM tasks GROUP BY status'),
    };
  }

  it('resolves and persists 200 concurrent updates of different tasks (group commit)', async () => {
    const path = tempPath();
    const db = new SqliteDatabase(path);
    const store = new SqliteTaskStore(db);
    const tasks = Array.from({ length: 200 }, (_, i) => makeTask({ createdAt: iso(T0 + i) }));
    for (let i = 0; i < tasks.length; i += 25) await store.create(tasks.slice(i, i + 25).map(plain));

    const updated = await Promise.all(
      tasks.map((t, i) =>
        store.update(t.id, { status: 'RUNNING', progress: i / 200 }, { version: 1 }, iso(T0 + 1000)),
      ),
    );
    db.close();
    const reopened = new SqliteDatabase(path);
    const readBack = new SqliteTaskStore(reopened);
    const stored = await Promise.all(tasks.map((t) => readBack.get(t.id)));
    reopened.close();

    expect(updated.map((t) => t.version)).toEqual(tasks.map(() => 2));
    expect(stored).toEqual(updated);
  });

  it('keeps the other writes of a group when one write in it fails, and undoes the failed one entirely', async () => {
    const path = tempPath();
    const db = new SqliteDatabase(path);
    const store = new SqliteTaskStore(db);
    const [a, b, c] = [makeTask(), makeTask(), makeTask()];
    await store.create([a!, b!, c!].map(plain));

    const outcomes = await Promise.allSettled([
      store.update(a!.id, { status: 'RUNNING' }, { version: 1 }, iso(T0 + 1)),
      db.write(() => {
        db.statement('UPDATE tasks SET version = 999 WHERE id = ?').run(b!.id);
        throw new Error('boom');
      }),
      store.update(b!.id, { status: 'RUNNING' }, { version: 5 }, iso(T0 + 1)),
      store.update(c!.id, { status: 'RUNNING' }, { version: 1 }, iso(T0 + 1)),
    ]);
    db.close();
    const reopened = new SqliteDatabase(path);
    const readBack = new SqliteTaskStore(reopened);
    const stored = await Promise.all([a!, b!, c!].map((t) => readBack.get(t.id)));
    const versions = reopened.db.prepare('SELECT id, version FROM tasks').all() as Array<{
      id: string;
      version: number;
    }>;
    reopened.close();

    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ message: 'boom' });
    expect((outcomes[2] as PromiseRejectedResult).reason).toMatchObject({ name: 'ConditionFailedError' });
    expect(stored.map((t) => t?.status)).toEqual(['RUNNING', 'QUEUED', 'RUNNING']);
    expect(versions.find((r) => r.id === b!.id)?.version).toBe(1);
  });

  it('updates from the stored task when another connection changed it since this one read it', async () => {
    const path = tempPath();
    const [db1, db2] = [new SqliteDatabase(path), new SqliteDatabase(path)];
    const [store1, store2] = [new SqliteTaskStore(db1), new SqliteTaskStore(db2)];
    const task = makeTask();
    await store1.create([plain(task)]);
    await store1.get(task.id);

    await store2.update(task.id, { status: 'RUNNING', progress: 0.5 }, { version: 1 }, iso(T0 + 1));
    // No condition: only the stored version tells store1 that its remembered task is old.
    const updated = await store1.update(task.id, { progressMessage: 'half' }, {}, iso(T0 + 2));
    // A condition that the remembered task fails but the stored one meets.
    await store2.update(task.id, { status: 'QUEUED' }, {}, iso(T0 + 3));
    await store1.update(task.id, { status: 'RUNNING' }, { statusIn: ['QUEUED'] }, iso(T0 + 4));
    const stale = store1.update(task.id, { progress: 1 }, { version: 2 }, iso(T0 + 5));
    await expect(stale).rejects.toMatchObject({ name: 'ConditionFailedError' });
    const stored = await store2.get(task.id);
    db1.close();
    db2.close();

    expect(updated).toMatchObject({ status: 'RUNNING', progress: 0.5, progressMessage: 'half', version: 3 });
    expect(stored).toMatchObject({ status: 'RUNNING', progress: 0.5, progressMessage: 'half', version: 5 });
  });

  it('counts statuses from the successful writes of a group only', async () => {
    const db = new SqliteDatabase(tempPath());
    const store = new SqliteTaskStore(db);
    const [a, b] = [makeTask(), makeTask()];
    await store.create([a!, b!].map(plain));

    const outcomes = await Promise.allSettled([
      store.update(a!.id, { status: 'RUNNING' }, { version: 1 }, iso(T0 + 1)),
      db.write(() => {
        db.countStatus('QUEUED', -1);
        db.countStatus('SUCCEEDED', 1);
        db.statement("UPDATE tasks SET status = 'SUCCEEDED' WHERE id = ?").run(b!.id);
        throw new Error('boom');
      }),
      store.update(b!.id, { status: 'RUNNING' }, { version: 9 }, iso(T0 + 1)),
    ]);
    const { counts } = await store.counts(iso(T0 + 2));
    const { kept, real } = countsOf(db);
    db.close();

    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    expect(counts).toMatchObject({ QUEUED: 1, RUNNING: 1, SUCCEEDED: 0 });
    expect(kept).toEqual(real);
    expect(() => db.countStatus('QUEUED', 1)).toThrow(/inside a write/);
  });

  it('fails the whole group, leaving nothing of it, when SQLite ends the transaction in the middle', async () => {
    const db = new SqliteDatabase(tempPath());
    const store = new SqliteTaskStore(db);
    const [a, c] = [makeTask(), makeTask()];

    const outcomes = await Promise.allSettled([
      store.create([plain(a!)]),
      db.write(() => {
        // What SQLite does on its own after a full disk or an I/O error.
        db.db.exec('ROLLBACK');
        throw new Error('disk I/O error');
      }),
      store.create([plain(c!)]),
    ]);
    const left = db.db.prepare('SELECT count(*) AS n FROM tasks').get() as { n: number };
    const changes = new SqliteChangeFeed(db).read(10);
    const { kept, real } = countsOf(db);
    // The connection goes on working afterwards.
    await store.create([plain(makeTask())]);
    const after = countsOf(db);
    db.close();

    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const outcome of outcomes) {
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({ name: 'StorageError' });
    }
    expect(left.n).toBe(0);
    expect(changes).toEqual([]);
    expect(kept).toEqual(real);
    expect(after.kept).toEqual({ QUEUED: 1 });
    expect(after.real).toEqual({ QUEUED: 1 });
  });

  it('keeps serving while another connection holds the write lock, then commits the waiting writes', async () => {
    const path = tempPath();
    const db = new SqliteDatabase(path);
    const store = new SqliteTaskStore(db);
    const other = new DatabaseSync(path);
    other.exec('BEGIN IMMEDIATE');

    const task = makeTask();
    let settled = false;
    const created = store.create([plain(task)]).finally(() => (settled = true));
    // The loop keeps turning: timers fire while the write waits for the lock.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const settledWhileLocked = settled;
    other.exec('COMMIT');
    await created;
    const stored = await store.get(task.id);
    other.close();
    db.close();

    expect(settledWhileLocked).toBe(false);
    expect(stored?.id).toBe(task.id);
  });

  it('fails the waiting writes with StorageError when the lock stays taken past the busy timeout', async () => {
    const path = tempPath();
    const db = new SqliteDatabase(path, { busyTimeoutMs: 150 });
    const store = new SqliteTaskStore(db);
    const other = new DatabaseSync(path);
    other.exec('BEGIN IMMEDIATE');

    const attempt = store.create([plain(makeTask())]);
    await expect(attempt).rejects.toMatchObject({
      name: 'StorageError',
      message: expect.stringMatching(/stayed locked by another connection/),
    });
    other.exec('ROLLBACK');
    // The connection is usable again once the lock is free.
    await store.create([plain(makeTask())]);
    const { counts } = await store.counts(iso(T0));
    other.close();
    db.close();

    expect(counts.QUEUED).toBe(1);
  });

  it('upgrades a schema version 1 file: status counts kept, triggers gone, the waiting index replaced', async () => {
    const path = tempPath();
    const db = new SqliteDatabase(path);
    const store = new SqliteTaskStore(db);
    await store.create([makeTask(), makeTask()].map(plain));
    db.close();
    // Make it look like version 1: its triggers and index, and its version number.
    const old = new DatabaseSync(path);
    old.exec(`
      CREATE TRIGGER tasks_count_insert AFTER INSERT ON tasks BEGIN
        INSERT INTO status_counts (status, n) VALUES (new.status, 1) ON CONFLICT (status) DO UPDATE SET n = n + 1;
      END;
      CREATE TRIGGER tasks_count_update AFTER UPDATE OF status ON tasks WHEN old.status <> new.status BEGIN
        UPDATE status_counts SET n = n - 1 WHERE status = old.status;
        INSERT INTO status_counts (status, n) VALUES (new.status, 1) ON CONFLICT (status) DO UPDATE SET n = n + 1;
      END;
      CREATE TRIGGER tasks_count_delete AFTER DELETE ON tasks BEGIN
        UPDATE status_counts SET n = n - 1 WHERE status = old.status;
      END;
      DROP INDEX tasks_waiting_by_run_at;
      CREATE INDEX tasks_waiting ON tasks (status, run_at_ms);
      CREATE INDEX tasks_by_status ON tasks (status, created_ms, id);
      PRAGMA user_version = 1;
    `);
    old.close();

    const upgraded = new SqliteDatabase(path);
    const upgradedStore = new SqliteTaskStore(upgraded);
    const schema = upgraded.db
      .prepare(
        "SELECT type, name FROM sqlite_schema WHERE type IN ('trigger', 'index') AND name LIKE 'tasks_%'",
      )
      .all() as Array<{ type: string; name: string }>;
    const version = (upgraded.db.prepare('PRAGMA user_version').get() as { user_version: number })
      .user_version;
    const { counts, oldestWaitingRunAt } = await upgradedStore.counts(iso(T0 + 60_000));
    // Writes after the upgrade are counted once (a trigger left behind would count them twice).
    const [first] = (await upgradedStore.list({}, 1, null)).items;
    await upgradedStore.update(first!.id, { status: 'RUNNING' }, {}, iso(T0 + 1));
    await upgradedStore.create([plain(makeTask())]);
    const { kept, real } = countsOf(upgraded);
    upgraded.close();

    expect(version).toBe(3);
    expect(schema.filter((r) => r.type === 'trigger')).toEqual([]);
    expect(schema.map((r) => r.name)).not.toContain('tasks_by_status');
    expect(schema.map((r) => r.name)).toContain('tasks_waiting_by_run_at');
    expect(schema.map((r) => r.name)).not.toContain('tasks_waiting');
    expect(counts.QUEUED).toBe(2);
    expect(oldestWaitingRunAt).not.toBeNull();
    expect(real).toEqual({ QUEUED: 2, RUNNING: 1 });
    expect(kept).toEqual(real);
  });

  it('upgrades a schema version 2 file: the status-only index is dropped, listings by status still work', async () => {
    const path = tempPath();
    const db = new SqliteDatabase(path);
    const store = new SqliteTaskStore(db);
    const tasks = [makeTask({ type: 'SEND_EMAIL' }), makeTask({ type: 'PROCESS_DATA' })];
    await store.create(tasks.map(plain));
    db.close();
    const old = new DatabaseSync(path);
    old.exec('CREATE INDEX tasks_by_status ON tasks (status, created_ms, id); PRAGMA user_version = 2;');
    old.close();

    const upgraded = new SqliteDatabase(path);
    const indexes = (
      upgraded.db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index'").all() as Array<{
        name: string;
      }>
    ).map((r) => r.name);
    const version = (upgraded.db.prepare('PRAGMA user_version').get() as { user_version: number })
      .user_version;
    const listed = await new SqliteTaskStore(upgraded).list({ status: 'QUEUED' }, 10, null);
    upgraded.close();

    expect(version).toBe(3);
    expect(indexes).not.toContain('tasks_by_status');
    expect(indexes).toContain('tasks_by_status_type');
    expect(listed.items.map((t) => t.id).sort()).toEqual(tasks.map((t) => t.id).sort());
  });

  it('reads every listing shape through an index, in order, with no scan of the table and no sort', () => {
    const db = new SqliteDatabase(tempPath());
    const plan = (sql: string) =>
      (db.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as Array<{ detail: string }>)
        .map((r) => r.detail)
        .join('; ');
    // Every statement the store lists with: each filter shape, with and without a position, and
    // the positions alone (a listing by status merges those of each type).
    const shapes: Record<string, string> = { typesInStatus: plan(TYPES_IN_STATUS_SQL) };
    for (const columns of ['created_ms, id', 'created_ms, id, doc'] as const) {
      for (const status of [false, true]) {
        for (const type of [false, true]) {
          for (const after of [false, true]) {
            shapes[`${columns} status=${status} type=${type} after=${after}`] = plan(
              listSql(columns, { status, type, after }),
            );
          }
        }
      }
    }
    db.close();

    expect(shapes['typesInStatus']).toMatch(/COVERING INDEX tasks_by_status_type \(status=\?\)/);
    expect(shapes['created_ms, id status=true type=true after=true']).toMatch(
      /USING COVERING INDEX tasks_by_status_type/,
    );
    expect(shapes['created_ms, id, doc status=false type=false after=true']).toMatch(
      /INDEX tasks_by_created/,
    );
    expect(shapes['created_ms, id, doc status=false type=true after=true']).toMatch(/INDEX tasks_by_type/);
    expect(shapes['created_ms, id, doc status=true type=true after=true']).toMatch(
      /INDEX tasks_by_status_type/,
    );
    for (const [shape, detail] of Object.entries(shapes)) {
      // A listing by status alone never runs as one statement (it merges the types' pages).
      if (/status=true type=false/.test(shape)) continue;
      expect([shape, detail]).not.toEqual([shape, expect.stringMatching(/TEMP B-TREE|SCAN tasks(?! USING)/)]);
    }
  });

  it('lists by status from one snapshot: a task claimed meanwhile on another connection is listed as it was', async () => {
    const path = tempPath();
    const db = new SqliteDatabase(path);
    const store = new SqliteTaskStore(db);
    const tasks = [makeTask({ type: 'SEND_EMAIL' }), makeTask({ type: 'PROCESS_DATA' })];
    await store.create(tasks.map(plain));
    const other = new DatabaseSync(path);
    // Another connection claims the first task just before the listing reads the tasks' documents.
    const statement = db.statement.bind(db);
    vi.spyOn(db, 'statement').mockImplementation((sql: string) => {
      if (sql === 'SELECT doc FROM tasks WHERE id = ?') {
        other
          .prepare(
            "UPDATE tasks SET status = 'RUNNING', doc = json_set(doc, '$.status', 'RUNNING') WHERE id = ?",
          )
          .run(tasks[0]!.id);
      }
      return statement(sql);
    });

    const listed = await store.list({ status: 'QUEUED' }, 10, null);
    const after = await store.list({ status: 'QUEUED' }, 10, null);
    other.close();
    db.close();

    expect(listed.items.map((t) => [t.id, t.status]).sort()).toEqual(
      tasks.map((t) => [t.id, 'QUEUED']).sort(),
    );
    expect(after.items.map((t) => t.id)).toEqual([tasks[1]!.id]);
  });

  it('reports the error of a listing by status that fails midway, and leaves no transaction open', async () => {
    const db = new SqliteDatabase(tempPath());
    const store = new SqliteTaskStore(db);
    await store.create([plain(makeTask())]);
    // An I/O error on which SQLite has already ended the transaction itself.
    const statement = db.statement.bind(db);
    const spy = vi.spyOn(db, 'statement').mockImplementation((sql: string) => {
      if (sql !== 'SELECT doc FROM tasks WHERE id = ?') return statement(sql);
      return {
        get: () => {
          db.db.exec('ROLLBACK');
          throw new Error('disk I/O error');
        },
      } as never;
    });

    const attempt = store.list({ status: 'QUEUED' }, 10, null);

    await expect(attempt).rejects.toThrow('disk I/O error');
    spy.mockRestore();
    expect(db.db.isTransaction).toBe(false);
    expect((await store.list({ status: 'QUEUED' }, 10, null)).items).toHaveLength(1);
    db.close();
  });

  it('stores the indexed columns an update changes together (status, runAt, expiresAt) each in its own column', async () => {
    const db = new SqliteDatabase(tempPath());
    const store = new SqliteTaskStore(db);
    const task = makeTask();
    await store.create([plain(task)]);

    await store.update(
      task.id,
      { status: 'RETRYING', runAt: iso(T0 + 5_000), expiresAt: iso(T0 + 9_000) },
      {},
      iso(T0 + 1),
    );
    const row = db.db
      .prepare('SELECT status, run_at_ms, expires_ms FROM tasks WHERE id = ?')
      .get(task.id) as { status: string; run_at_ms: number; expires_ms: number };
    db.close();

    expect(row).toEqual({ status: 'RETRYING', run_at_ms: T0 + 5_000, expires_ms: T0 + 9_000 });
  });

  it('throws StorageError naming the path when the file is not a database', () => {
    const path = tempPath();
    writeFileSync(path, randomBytes(8192));

    let caught: unknown;
    try {
      new SqliteDatabase(path);
    } catch (error) {
      caught = error;
    }

    expect(caught).toBeInstanceOf(StorageError);
    expect((caught as Error).name).toBe('StorageError');
    expect((caught as Error).message).toContain(path);
  });

  it('rejects writes after close with StorageError', async () => {
    const db = new SqliteDatabase(tempPath());
    db.close();

    const attempt = db.write(() => 1);

    await expect(attempt).rejects.toMatchObject({ name: 'StorageError' });
  });
});

describe('WAL checkpoints', () => {
  const dirs: string[] = [];

  afterEach(() => {
    vi.useRealTimers();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function tempPath(): string {
    const dir = mkdtempSync(join(tmpdir(), 'tq-'));
    dirs.push(dir);
    return join(dir, 'tasks.db');
  }

  /** A writer whose commits never checkpoint, and a way to add tasks through it. */
  function writer(path: string) {
    const db = new SqliteDatabase(path, { autoCheckpoint: false });
    const store = new SqliteTaskStore(db);
    return {
      db,
      async add(commits: number) {
        for (let i = 0; i < commits; i++) await store.create([plain(makeTask())]);
      },
    };
  }

  const walFrames = (db: SqliteDatabase) =>
    (db.db.prepare('PRAGMA wal_checkpoint(NOOP)').get() as { log: number } | undefined)?.log;

  it('leaves the WAL to grow while other connections read, until a RESTART checkpoint starts it over', async () => {
    // A writer starts the WAL over by itself after a complete checkpoint only when no other connection
    // holds a snapshot in it. In the runtime other threads' connections nearly always do; here one
    // reader does, from before the checkpoint until after the next writes.
    const path = tempPath();
    const w = writer(path);
    await w.add(50);
    const reader = new DatabaseSync(path);
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM tasks').get();
    const grown = w.db.checkpoint('PASSIVE');
    await w.add(50);
    const stillGrowing = w.db.checkpoint('PASSIVE');
    reader.exec('COMMIT');
    reader.close();
    const restart = w.db.checkpoint('RESTART');
    await w.add(1);
    const afterRestart = w.db.checkpoint('PASSIVE');
    w.db.close();

    expect(grown.checkpointed).toBe(grown.walFrames);
    expect(stillGrowing.walFrames).toBeGreaterThan(grown.walFrames);
    expect(restart.busy).toBe(false);
    expect(afterRestart.walFrames).toBeLessThan(grown.walFrames);
  });

  it('checkpoints every tick, and starts the WAL over once it passes the restart size', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const path = tempPath();
    const w = writer(path);
    const reports: unknown[] = [];
    const loop = checkpointEvery(w.db, 100, {
      onError: (error) => reports.push(error),
      onWarning: (message) => reports.push(message),
    });
    const main = () => statSync(path).size;
    const before = main();
    await w.add(20);
    vi.advanceTimersByTime(100);
    const copied = main();
    while ((walFrames(w.db) ?? 0) <= RESTART_AFTER_FRAMES) await w.add(50);
    vi.advanceTimersByTime(100);
    await w.add(1);
    const restarted = walFrames(w.db);
    loop.stop();
    w.db.close();

    expect(copied).toBeGreaterThan(before);
    expect(restarted).toBeLessThan(100);
    expect(reports).toEqual([]);
  });

  it('tries no RESTART while a reader holds frames back, and starts the WAL over once it lets go', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const path = tempPath();
    const w = writer(path);
    const loop = checkpointEvery(w.db, 100, { onError: () => undefined, onWarning: () => undefined });
    const restarts = vi.spyOn(w.db, 'checkpoint');
    // A reader in a long transaction keeps the snapshot it started with.
    const reader = new DatabaseSync(path);
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM tasks').get();
    while ((walFrames(w.db) ?? 0) <= RESTART_AFTER_FRAMES) await w.add(50);
    vi.advanceTimersByTime(500);
    const whileHeld = restarts.mock.calls.filter(([mode]) => mode === 'RESTART').length;
    reader.exec('COMMIT');
    reader.close();
    vi.advanceTimersByTime(100);
    await w.add(1);
    const restarted = walFrames(w.db);
    loop.stop();
    w.db.close();

    expect(whileHeld).toBe(0);
    expect(restarted).toBeLessThan(100);
  });

  /**
   * Writes through a connection that never checkpoints, with a checkpointer whose own connection
   * opens `threadPath(path)`; resolves once the database file grew (something checkpointed) and the
   * checkpointer stopped, with what it logged.
   */
  async function checkpointsFor(threadPath: (path: string) => string) {
    const path = tempPath();
    const w = writer(path);
    const logger = recordingLogger();
    const checkpointer = await startCheckpointer({
      databasePath: threadPath(path),
      durability: 'normal',
      logger,
      fallback: w.db,
      everyMs: 10,
    });
    const before = statSync(path).size;
    await w.add(50);
    await vi.waitFor(() => expect(statSync(path).size).toBeGreaterThan(before));
    await checkpointer.stop();
    w.db.close();
    return logger.lines;
  }

  it('runs the checkpoints in a thread of its own', async () => {
    const logged = await checkpointsFor((path) => path);

    expect(logged.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('checkpoints on the fallback connection, and says so, when the thread cannot run', async () => {
    // The thread's own connection cannot open: its folder is a file.
    const logged = await checkpointsFor((path) => {
      const blocked = join(dirname(path), 'not-a-folder');
      writeFileSync(blocked, '');
      return join(blocked, 'tasks.db');
    });

    expect(logged).toContainEqual({
      level: 'error',
      message: 'the checkpoint thread stopped; the API thread checkpoints from now on',
    });
  });
});
