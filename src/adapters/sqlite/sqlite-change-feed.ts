import type { DynamoDBRecord } from 'aws-lambda';
import type { Task } from '../../domain/task.ts';
import { lazyTaskImage } from '../dynamodb/task-image.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

interface ChangeRow {
  seq: number;
  task_id: string;
  event: 'INSERT' | 'MODIFY';
  image: string;
}

/** The tasks a store on this connection wrote, by change sequence number: reading them skips parsing. */
export interface WrittenChanges {
  /** From now on, remember the task of each change recorded, until it is taken. */
  rememberWrittenChanges(): void;
  takeWrittenChange(seq: number): Task | undefined;
}

/**
 * Reads the store's committed changes in commit order as DynamoDB stream records (NEW_IMAGE), so
 * the local runtime feeds the very publisher handler that a DynamoDB stream feeds on AWS.
 * Records stay until acknowledged: a crash before publishing means they are published again.
 *
 * An acknowledgement takes effect for `read` at once; the acknowledged rows are deleted in the
 * background, at most every `forgetEveryMs` (and on `close`), so the publisher does not take the
 * write lock after every batch. A crash in between publishes those records again, which at-least-once
 * delivery allows (subscribers see the same version twice).
 */
export class SqliteChangeFeed {
  readonly #db: SqliteDatabase;
  readonly #forgetEveryMs: number;
  readonly #written: WrittenChanges | undefined;
  #acknowledged = 0;
  #forgotten = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(db: SqliteDatabase, options: { forgetEveryMs?: number; written?: WrittenChanges } = {}) {
    this.#db = db;
    this.#written = options.written;
    this.#written?.rememberWrittenChanges();
    this.#forgetEveryMs = options.forgetEveryMs ?? 250;
  }

  read(max: number): DynamoDBRecord[] {
    const rows = this.#db
      .statement('SELECT seq, task_id, event, image FROM task_changes WHERE seq > ? ORDER BY seq LIMIT ?')
      .all(this.#acknowledged, max) as unknown as ChangeRow[];
    return rows.map((row) => {
      const remembered = this.#written?.takeWrittenChange(row.seq);
      const task = remembered?.id === row.task_id ? remembered : (JSON.parse(row.image) as Task);
      return {
        eventID: String(row.seq),
        eventName: row.event,
        eventSource: 'local:sqlite',
        dynamodb: {
          Keys: { id: { S: row.task_id } },
          NewImage: lazyTaskImage(task) as never,
          SequenceNumber: String(row.seq),
          StreamViewType: 'NEW_IMAGE',
        },
      };
    });
  }

  /** Marks every change up to and including `seq` as published; they are deleted soon after. */
  acknowledge(seq: number): void {
    if (seq <= this.#acknowledged) return;
    this.#acknowledged = seq;
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.forget().catch(() => {
        // Kept for the next try; until then they are only skipped by read.
      });
    }, this.#forgetEveryMs).unref();
  }

  /** Deletes the acknowledged changes now. */
  async forget(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const upTo = this.#acknowledged;
    if (upTo <= this.#forgotten) return;
    await this.#db.write(() => {
      this.#db.statement('DELETE FROM task_changes WHERE seq <= ?').run(upTo);
    });
    this.#forgotten = Math.max(this.#forgotten, upTo);
  }

  /** Changes not acknowledged yet. */
  pending(): number {
    return (
      this.#db.statement('SELECT count(*) AS n FROM task_changes WHERE seq > ?').get(this.#acknowledged) as {
        n: number;
      }
    ).n;
  }
}
