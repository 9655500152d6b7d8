// The local runtime's retention sweep: what AWS removes on its own (DynamoDB TTL, SQS retention) and
// what a crash leaves behind, each by its own keep time, on a real store, queue and data folder.
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeFileSentLedger } from '../../src/adapters/local/file-sent-ledger.ts';
import { SqliteTaskQueue } from '../../src/adapters/sqlite/sqlite-task-queue.ts';
import { SqliteTaskStore } from '../../src/adapters/sqlite/sqlite-task-store.ts';
import { LIMITS } from '../../src/domain/limits.ts';
import { makeRetentionSweep } from '../../src/local/retention-sweep.ts';
import { SENT_RECORD_KEEP_SECONDS } from '../../src/ports/mailer.ts';
import { T0, iso, makeTask, manualClock } from '../helpers/contract-fixtures.ts';
import { tempSqlite } from '../helpers/contract-sqlite.ts';

const DAY = 86_400_000;

let sqlite: ReturnType<typeof tempSqlite>;
let dataDir: string;

beforeEach(() => {
  sqlite = tempSqlite();
  dataDir = join(sqlite.dir, 'data');
  mkdirSync(dataDir);
});

afterEach(() => {
  sqlite.cleanup();
});

/** Sets a file's modification time (the sweep reads it as the time the file was written). */
function writtenAt(path: string, ms: number): void {
  utimesSync(path, ms / 1000, ms / 1000);
}

const RECORD = {
  messageId: '<m@x>',
  sentAt: iso(T0),
  transport: 'outbox' as const,
  accepted: [],
  rejected: [],
};

describe('the retention sweep', () => {
  it('removes each kind of leftover only once its keep time has passed', async () => {
    const clock = manualClock(T0);
    const store = new SqliteTaskStore(sqlite.db);
    const queue = new SqliteTaskQueue(sqlite.db, clock, { maxReceiveCount: 100 });
    const ledger = makeFileSentLedger({ dataDir });
    const now = T0 + 40 * DAY;

    // Tasks: one past its expiry, one not.
    const expired = makeTask({ status: 'SUCCEEDED', expiresAt: iso(now - 1) });
    const kept = makeTask({ status: 'SUCCEEDED', expiresAt: iso(now + DAY) });
    await store.create([expired, kept].map((task) => ({ task, idempotencyKeyExpiresAt: null })));

    // Dead letters sent 40 days ago and 1 day ago; the old one is past the queue's retention.
    await queue.sendToDeadLetter('{"old":true}', 'poison');
    clock.advance(39 * DAY);
    await queue.sendToDeadLetter('{"recent":true}', 'poison');

    // Sent records written 31 days ago and 29 days ago; a temporary file of a crashed write 2 hours
    // old and one of a write that may still be running.
    await ledger.recordSent('old-task', RECORD);
    await ledger.recordSent('recent-task', RECORD);
    const sent = join(dataDir, 'sent');
    writtenAt(join(sent, 'old-task.json'), now - SENT_RECORD_KEEP_SECONDS * 1000 - DAY);
    writtenAt(join(sent, 'recent-task.json'), now - SENT_RECORD_KEEP_SECONDS * 1000 + DAY);
    const crashed = join(sent, '.x-task.json.0b5a3c7e-1f2d-4e6a-9b8c-7d6e5f4a3b2c.tmp');
    const running = join(sent, '.y-task.json.1c6b4d8f-2a3e-4f7b-8c9d-8e7f6a5b4c3d.tmp');
    writeFileSync(crashed, 'half');
    writeFileSync(running, 'half');
    writtenAt(crashed, now - 2 * 60 * 60 * 1000);
    writtenAt(running, now - 60 * 1000);

    // The outbox: a crashed write's temporary file goes; emails stay, however old.
    const outbox = join(dataDir, 'outbox');
    mkdirSync(outbox);
    const email = join(outbox, '20300101T120000Z-old-task.eml');
    const outboxTemp = join(outbox, '.20300101T120000Z-z.eml.2d7c5e9a-3b4f-4a8c-9d0e-9f8a7b6c5d4e.tmp');
    writeFileSync(email, 'Subject: hi\r\n\r\nbody');
    writeFileSync(outboxTemp, 'Subj');
    writtenAt(email, now - 365 * DAY);
    writtenAt(outboxTemp, now - 2 * 60 * 60 * 1000);

    // The blob store's unfinished writes: one a crash cut short, one still being written.
    const blobTemp = join(dataDir, 'blobs', '.tmp');
    mkdirSync(blobTemp, { recursive: true });
    const cutShort = join(blobTemp, '3e8d6f0a-4c5b-4b9d-8e1f-0a9b8c7d6e5f');
    const uploading = join(blobTemp, '4f9e7a1b-5d6c-4cae-9f20-1b0c9d8e7f6a');
    writeFileSync(cutShort, 'part');
    writeFileSync(uploading, 'part');
    writtenAt(cutShort, now - 2 * 60 * 60 * 1000);
    writtenAt(uploading, now - 60 * 1000);

    const sweep = makeRetentionSweep({ dataDir, store, queue });
    expect(await sweep(now)).toEqual({
      tasks: 1,
      deadLetters: 1,
      sentRecords: 2,
      outboxTempFiles: 1,
      blobTempFiles: 1,
    });
    expect(existsSync(cutShort)).toBe(false);
    expect(existsSync(uploading)).toBe(true);

    expect(await store.get(expired.id)).toBeNull();
    expect(await store.get(kept.id)).toEqual(kept);
    expect(queue.deadLetters(10).map((m) => m.body)).toEqual(['{"recent":true}']);
    expect(readdirSync(sent).sort()).toEqual([
      '.y-task.json.1c6b4d8f-2a3e-4f7b-8c9d-8e7f6a5b4c3d.tmp',
      'recent-task.json',
    ]);
    expect(await ledger.wasSent('recent-task')).toEqual(RECORD);
    expect(await ledger.wasSent('old-task')).toBeNull();
    expect(existsSync(email)).toBe(true);
    expect(existsSync(outboxTemp)).toBe(false);

    // A second sweep finds nothing more.
    const none = { tasks: 0, deadLetters: 0, sentRecords: 0, outboxTempFiles: 0, blobTempFiles: 0 };
    expect(await sweep(now)).toEqual(none);

    // Folders are listed at most once an hour; tables on every sweep.
    writeFileSync(crashed, 'half');
    writtenAt(crashed, now - 2 * 60 * 60 * 1000);
    expect(await sweep(now + 59 * 60 * 1000)).toEqual(none);
    expect(existsSync(crashed)).toBe(true);
    // An hour on, the writes that were young at the first sweep are stale too.
    expect(await sweep(now + 60 * 60 * 1000)).toEqual({ ...none, sentRecords: 2, blobTempFiles: 1 });
    expect(existsSync(crashed)).toBe(false);
  });

  it('keeps dead letters for the queue retention the stack sets (14 days)', async () => {
    const clock = manualClock(T0);
    const queue = new SqliteTaskQueue(sqlite.db, clock, { maxReceiveCount: 100 });
    await queue.sendToDeadLetter('{}', 'poison');

    expect(LIMITS.messageRetentionDays).toBe(14);
    expect(await queue.pruneDeadLetters(T0, 100)).toBe(0);
    expect(await queue.pruneDeadLetters(T0 + 1, 100)).toBe(1);
    expect(queue.depth().dead).toBe(0);
  });

  it('removes at most max dead letters per call, and no message of the main queue', async () => {
    const clock = manualClock(T0);
    const queue = new SqliteTaskQueue(sqlite.db, clock, { maxReceiveCount: 100 });
    for (let i = 0; i < 5; i++) await queue.sendToDeadLetter(`{"n":${i}}`, 'poison');
    await queue.send([{ body: '{"taskId":"x"}' }]);

    expect(await queue.pruneDeadLetters(T0 + 1, 3)).toBe(3);
    expect(await queue.pruneDeadLetters(T0 + 1, 3)).toBe(2);
    expect(queue.depth()).toEqual({ visible: 1, inFlightOrDelayed: 0, dead: 0 });
  });

  it('runs on a data folder that has no sent or outbox folder yet', async () => {
    const store = new SqliteTaskStore(sqlite.db);
    const queue = new SqliteTaskQueue(sqlite.db, manualClock(T0), { maxReceiveCount: 100 });

    expect(await makeRetentionSweep({ dataDir, store, queue })(T0)).toEqual({
      tasks: 0,
      deadLetters: 0,
      sentRecords: 0,
      outboxTempFiles: 0,
      blobTempFiles: 0,
    });
  });
});
