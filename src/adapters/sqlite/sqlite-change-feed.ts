import type { DynamoDBRecord } from 'aws-lambda';
import type { Task } from '../../domain/task.ts';
import { taskToImage } from '../dynamodb/task-image.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

interface ChangeRow {
  seq: number;
  task_id: string;
  event: 'INSERT' | 'MODIFY';
  image: string;
}

/**
 * Reads the store's committed changes in commit order as DynamoDB stream records (NEW_IMAGE), so
 * the local runtime feeds the very publisher handler that a DynamoDB stream feeds on AWS.
 * Records stay until acknowledged: a crash before publishing means they are published again.
 */
export class SqliteChangeFeed {
  readonly #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  read(max: number): DynamoDBRecord[] {
    const rows = this.#db
      .statement('SELECT seq, task_id, event, image FROM task_changes ORDER BY seq LIMIT ?')
      .all(max) as unknown as ChangeRow[];
    return rows.map((row) => {
      const task = JSON.parse(row.image) as Task;
      return {
        eventID: String(row.seq),
        eventName: row.event,
        eventSource: 'local:sqlite',
        dynamodb: {
          Keys: { id: { S: row.task_id } },
          NewImage: taskToImage(task) as never,
          SequenceNumber: String(row.seq),
          StreamViewType: 'NEW_IMAGE',
        },
      };
    });
  }

  /** Forgets every change up to and including `seq`. */
  acknowledge(seq: number): Promise<void> {
    return this.#db.write(() => {
      this.#db.statement('DELETE FROM task_changes WHERE seq <= ?').run(seq);
    });
  }

  pending(): number {
    return (this.#db.statement('SELECT count(*) AS n FROM task_changes').get() as { n: number }).n;
  }
}
