import type { Clock } from '../../ports/clock.ts';
import type { OutgoingMessage, ReceivedMessage, TaskQueue } from '../../ports/task-queue.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

interface MessageRow {
  id: number;
  body: string;
  receive_count: number;
  sent_ms: number;
  first_receive_ms: number;
}

/** A dead-lettered message, for inspection. */
export interface DeadLetter {
  messageId: string;
  body: string;
  reason: string | null;
  sentTimestamp: number;
}

export interface SqliteTaskQueueOptions {
  /** Like an SQS redrive policy: a message received this many times goes to the dead-letter queue. */
  maxReceiveCount: number;
}

function handleOf(id: number, receiveCount: number): string {
  return `${id}:${receiveCount}`;
}

function parseHandle(handle: string): [number, number] | null {
  const match = /^(\d+):(\d+)$/.exec(handle);
  return match ? [Number(match[1]), Number(match[2])] : null;
}

/**
 * The local twin of an SQS standard queue with a dead-letter queue, in the shared SQLite file.
 * Same guarantees: at-least-once delivery, a visibility timeout per receive, per-message delay,
 * a receive count, and a redrive to the dead-letter queue after `maxReceiveCount` receives.
 * Where it differs: delivery is in visibility order rather than best-effort order, and a receipt
 * handle goes stale once the message is received again (SQS may still accept an old one).
 */
export class SqliteTaskQueue implements TaskQueue {
  readonly #db: SqliteDatabase;
  readonly #clock: Clock;
  readonly #options: SqliteTaskQueueOptions;
  readonly #sentListeners: Array<() => void> = [];

  constructor(db: SqliteDatabase, clock: Clock, options: SqliteTaskQueueOptions) {
    this.#db = db;
    this.#clock = clock;
    this.#options = options;
  }

  /** The database this queue writes to. */
  get database(): SqliteDatabase {
    return this.#db;
  }

  /** Called after a send commits (the local poller wakes on it). */
  onSent(listener: () => void): void {
    this.#sentListeners.push(listener);
  }

  async send(messages: readonly OutgoingMessage[]): Promise<void> {
    await this.#db.write(() => this.sendInWrite(messages));
    this.notifySent();
  }

  /**
   * Inside a write of this queue's database (another adapter's, say): inserts the messages in that
   * transaction. Call notifySent once it committed.
   */
  sendInWrite(messages: readonly OutgoingMessage[]): void {
    const nowMs = this.#clock.now();
    this.#db.insertRows(
      'INSERT INTO messages (queue, body, visible_ms, sent_ms)',
      4,
      messages.map((message) => [
        'main',
        message.body,
        nowMs + Math.max(0, message.delaySeconds ?? 0) * 1000,
        nowMs,
      ]),
    );
  }

  /** Tells the listeners (the local pollers) that messages were sent. */
  notifySent(): void {
    for (const listener of this.#sentListeners) listener();
  }

  receive(max: number, visibilityTimeoutSeconds: number): Promise<ReceivedMessage[]> {
    return this.#db.write(() => {
      const nowMs = this.#clock.now();
      const rows = this.#db
        .statement(
          'UPDATE messages SET visible_ms = ?1, receive_count = receive_count + 1, ' +
            'first_receive_ms = coalesce(first_receive_ms, ?2) ' +
            "WHERE id IN (SELECT id FROM messages WHERE queue = 'main' AND visible_ms <= ?2 ORDER BY visible_ms LIMIT ?3) " +
            'RETURNING id, body, receive_count, sent_ms, first_receive_ms',
        )
        .all(nowMs + visibilityTimeoutSeconds * 1000, nowMs, max) as unknown as MessageRow[];
      const received: ReceivedMessage[] = [];
      for (const row of rows) {
        if (row.receive_count > this.#options.maxReceiveCount) {
          this.#db
            .statement("UPDATE messages SET queue = 'dead', reason = ? WHERE id = ?")
            .run(`received ${row.receive_count - 1} times without being processed (redrive policy)`, row.id);
          continue;
        }
        received.push({
          messageId: String(row.id),
          receiptHandle: handleOf(row.id, row.receive_count),
          body: row.body,
          receiveCount: row.receive_count,
          sentTimestamp: row.sent_ms,
          firstReceiveTimestamp: row.first_receive_ms,
        });
      }
      return received;
    });
  }

  async delete(receiptHandles: readonly string[]): Promise<void> {
    if (receiptHandles.length === 0) return;
    await this.#db.write(() => {
      const del = this.#db.statement(
        "DELETE FROM messages WHERE id = ? AND receive_count = ? AND queue = 'main'",
      );
      for (const handle of receiptHandles) {
        const parsed = parseHandle(handle);
        if (parsed) del.run(parsed[0], parsed[1]);
      }
    });
  }

  async changeVisibility(receiptHandle: string, seconds: number): Promise<void> {
    const parsed = parseHandle(receiptHandle);
    if (!parsed) return;
    await this.#db.write(() => {
      this.#db
        .statement("UPDATE messages SET visible_ms = ? WHERE id = ? AND receive_count = ? AND queue = 'main'")
        .run(this.#clock.now() + seconds * 1000, parsed[0], parsed[1]);
    });
    if (seconds === 0) for (const listener of this.#sentListeners) listener();
  }

  async sendToDeadLetter(body: string, reason: string): Promise<void> {
    const nowMs = this.#clock.now();
    await this.#db.write(() => {
      this.#db
        .statement(
          "INSERT INTO messages (queue, body, visible_ms, sent_ms, reason) VALUES ('dead', ?, ?, ?, ?)",
        )
        .run(body, nowMs, nowMs, reason);
    });
  }

  /**
   * Removes up to `max` dead-lettered messages sent before `sentBeforeMs`, as SQS drops a dead-letter
   * queue's messages once its retention period (counted from the original send) has passed. Returns
   * how many; a bound keeps one call from holding the write lock for long.
   */
  pruneDeadLetters(sentBeforeMs: number, max: number): Promise<number> {
    return this.#db.write(() => {
      const result = this.#db
        .statement(
          "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE queue = 'dead' AND sent_ms < ? LIMIT ?)",
        )
        .run(sentBeforeMs, max);
      return Number(result.changes);
    });
  }

  /** Makes every in-flight message visible now: a restarted runtime takes over its predecessor's leases. */
  releaseInFlight(): Promise<number> {
    return this.#db.write(() => {
      const nowMs = this.#clock.now();
      const result = this.#db
        .statement(
          "UPDATE messages SET visible_ms = ? WHERE queue = 'main' AND receive_count > 0 AND visible_ms > ?",
        )
        .run(nowMs, nowMs);
      return Number(result.changes);
    });
  }

  /** When the next message becomes visible, or null when the queue is empty. */
  nextVisibleAt(): number | null {
    const row = this.#db
      .statement("SELECT min(visible_ms) AS t FROM messages WHERE queue = 'main'")
      .get() as { t: number | null };
    return row.t;
  }

  /** Message counts, like SQS's ApproximateNumberOfMessages attributes. */
  depth(): { visible: number; inFlightOrDelayed: number; dead: number } {
    const nowMs = this.#clock.now();
    const row = this.#db
      .statement(
        "SELECT sum(queue = 'main' AND visible_ms <= ?1) AS visible, sum(queue = 'main' AND visible_ms > ?1) AS hidden, " +
          "sum(queue = 'dead') AS dead FROM messages",
      )
      .get(nowMs) as { visible: number | null; hidden: number | null; dead: number | null };
    return { visible: row.visible ?? 0, inFlightOrDelayed: row.hidden ?? 0, dead: row.dead ?? 0 };
  }

  deadLetters(limit: number): DeadLetter[] {
    return (
      this.#db
        .statement(
          "SELECT id, body, reason, sent_ms FROM messages WHERE queue = 'dead' ORDER BY id DESC LIMIT ?",
        )
        .all(limit) as Array<{ id: number; body: string; reason: string | null; sent_ms: number }>
    ).map((row) => ({
      messageId: String(row.id),
      body: row.body,
      reason: row.reason,
      sentTimestamp: row.sent_ms,
    }));
  }
}
