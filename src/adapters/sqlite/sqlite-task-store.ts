import { ValidationError } from '../../domain/errors.ts';
import type { Task } from '../../domain/task.ts';
import { applyUpdate } from '../apply-update.ts';
import { ALL_STATUSES, isFinal, type TaskStatus } from '../../domain/task-status.ts';
import type {
  CreateResult,
  NewTask,
  QueueCounts,
  TaskFilter,
  TaskPage,
  TaskPatch,
  TaskStore,
  UpdateCondition,
} from '../../ports/task-store.ts';
import type { WrittenChanges } from './sqlite-change-feed.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

const CACHE_SIZE = 4096;

interface TaskRow {
  doc: string;
}

/** Where a task stands in a listing (newest first). */
interface ListPosition {
  created_ms: number;
  id: string;
}

interface ListRow extends ListPosition, TaskRow {}

/** Which indexed columns an update sets besides version and doc (bits of UPDATE_SQL's index). */
const SETS_STATUS = 1;
const SETS_RUN_AT = 2;
const SETS_EXPIRES = 4;
/** The UPDATE for each combination of those columns, made once rather than per write. */
const UPDATE_SQL = Array.from({ length: 8 }, (_, changed) => {
  const sets = ['version = ?', 'doc = ?'];
  if (changed & SETS_STATUS) sets.push('status = ?');
  if (changed & SETS_RUN_AT) sets.push('run_at_ms = ?');
  if (changed & SETS_EXPIRES) sets.push('expires_ms = ?');
  return `UPDATE tasks SET ${sets.join(', ')} WHERE id = ? AND version = ?`;
});

/** The types present in a status (?1), by a skip scan over tasks_by_status_type. */
export const TYPES_IN_STATUS_SQL =
  'WITH RECURSIVE types (type) AS (SELECT min(type) FROM tasks WHERE status = ?1 ' +
  'UNION ALL SELECT (SELECT min(type) FROM tasks WHERE status = ?1 AND type > types.type) ' +
  'FROM types WHERE types.type IS NOT NULL) SELECT type FROM types WHERE type IS NOT NULL';

export type ListColumns = 'created_ms, id' | 'created_ms, id, doc';

/**
 * A page of a listing, newest first: parameters are the status, the type and the position after
 * which to start (created_ms, id), each only when filtered on, then the row count.
 */
export function listSql(
  columns: ListColumns,
  by: { status: boolean; type: boolean; after: boolean },
): string {
  const where: string[] = [];
  if (by.status) where.push('status = ?');
  if (by.type) where.push('type = ?');
  if (by.after) where.push('(created_ms, id) < (?, ?)');
  return (
    `SELECT ${columns} FROM tasks ${where.length ? `WHERE ${where.join(' AND ')} ` : ''}` +
    'ORDER BY created_ms DESC, id DESC LIMIT ?'
  );
}

function ms(iso: string | null): number | null {
  return iso === null ? null : Date.parse(iso);
}

function encodeToken(createdMs: number, id: string): string {
  return Buffer.from(JSON.stringify([createdMs, id])).toString('base64url');
}

function decodeToken(token: string): [number, string] {
  try {
    const value: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (Array.isArray(value) && typeof value[0] === 'number' && typeof value[1] === 'string') {
      return [value[0], value[1]];
    }
  } catch {
    // fall through to the error below
  }
  throw ValidationError.single(
    'nextToken',
    'is not a token this API returned; pass the nextToken of the previous page',
  );
}

/**
 * The local task store: one row per task (the task as JSON plus the columns its indexes need) in the
 * shared SQLite file. Every insert and update appends the new image to `task_changes` in the same
 * transaction, which is what the change feed publishes, like a DynamoDB stream with NEW_IMAGE.
 * Conditions are checked inside the write transaction, so they are as strict as DynamoDB's
 * condition expressions.
 */
export class SqliteTaskStore implements TaskStore, WrittenChanges {
  readonly #db: SqliteDatabase;
  /**
   * The tasks this connection last read or wrote, by id, as of their version. An update starts from
   * the remembered task and writes only if the stored version still matches; otherwise it reads the
   * row and starts again. Saves reading and parsing the task for the claim and the final write of
   * every run. Finished tasks leave it; it holds at most CACHE_SIZE tasks.
   */
  readonly #recent = new Map<string, Task>();
  /**
   * The changes this connection recorded and no feed has taken yet, by sequence number; kept only
   * once a feed asked for them (a processor's store has no feed). Cleared on rollback: another
   * connection's next change may take a rolled-back sequence number.
   */
  #written: Map<number, Task> | undefined;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    // After a rollback the remembered versions may name states that were never committed.
    db.onRollback(() => {
      this.#recent.clear();
      this.#written?.clear();
    });
  }

  /** The database this store writes to (a queue on the same one can join its transactions). */
  get database(): SqliteDatabase {
    return this.#db;
  }

  #remember(task: Task): void {
    this.#recent.delete(task.id);
    if (isFinal(task.status)) return;
    this.#recent.set(task.id, task);
    if (this.#recent.size > CACHE_SIZE) this.#recent.delete(this.#recent.keys().next().value!);
  }

  #read(id: string): Task | null {
    const row = this.#db.statement('SELECT doc FROM tasks WHERE id = ?').get(id) as TaskRow | undefined;
    if (!row) {
      this.#recent.delete(id);
      return null;
    }
    const task = JSON.parse(row.doc) as Task;
    this.#remember(task);
    return task;
  }

  #recordChange(task: Task, event: 'INSERT' | 'MODIFY', doc: string): void {
    const { lastInsertRowid } = this.#db
      .statement('INSERT INTO task_changes (task_id, event, image) VALUES (?, ?, ?)')
      .run(task.id, event, doc);
    this.#rememberChange(Number(lastInsertRowid), task);
  }

  #rememberChange(seq: number, task: Task): void {
    const written = this.#written;
    if (!written) return;
    written.set(seq, task);
    if (written.size > CACHE_SIZE) written.delete(written.keys().next().value!);
  }

  rememberWrittenChanges(): void {
    this.#written ??= new Map();
  }

  /**
   * The task of a change this store recorded, once (see WrittenChanges): a change feed on the same
   * connection reads it without parsing the stored image, which is JSON.stringify of this very task.
   */
  takeWrittenChange(seq: number): Task | undefined {
    const task = this.#written?.get(seq);
    if (task) this.#written!.delete(seq);
    return task;
  }

  create(items: readonly NewTask[]): Promise<CreateResult[]> {
    return this.#db.write(() => this.#create(items));
  }

  /**
   * Like create, and runs `also` with the results in the same transaction (see sqliteAtomicEnqueue):
   * when `also` throws, nothing of the call is stored.
   */
  createWith(items: readonly NewTask[], also: (results: CreateResult[]) => void): Promise<CreateResult[]> {
    return this.#db.write(() => {
      const results = this.#create(items);
      also(results);
      return results;
    });
  }

  /** Inside a write: inserts the new tasks, or answers an item with the task its idempotency key holds. */
  #create(items: readonly NewTask[]): CreateResult[] {
    const results: CreateResult[] = [];
    // New tasks are inserted together, in multi-row statements; a task with an idempotency key
    // first inserts those before it, since an earlier task of the same call may hold its key.
    let pending: Task[] = [];
    for (const { task, idempotencyKeyExpiresAt } of items) {
      if (task.idempotencyKey !== null && idempotencyKeyExpiresAt !== null) {
        this.#insert(pending);
        pending = [];
        const existing = this.#db
          .statement('SELECT task_id FROM idempotency_keys WHERE key = ? AND expires_ms > ?')
          .get(task.idempotencyKey, Date.parse(task.createdAt)) as { task_id: string } | undefined;
        const first = existing ? this.#read(existing.task_id) : null;
        if (first) {
          results.push({ task: first, created: false });
          continue;
        }
        this.#db
          .statement(
            'INSERT INTO idempotency_keys (key, task_id, expires_ms) VALUES (?, ?, ?) ' +
              'ON CONFLICT (key) DO UPDATE SET task_id = excluded.task_id, expires_ms = excluded.expires_ms',
          )
          .run(task.idempotencyKey, task.id, Date.parse(idempotencyKeyExpiresAt));
      }
      pending.push(task);
      results.push({ task, created: true });
    }
    this.#insert(pending);
    return results;
  }

  /** Inserts new tasks and their INSERT changes. */
  #insert(tasks: readonly Task[]): void {
    if (tasks.length === 0) return;
    const docs = tasks.map((task) => JSON.stringify(task));
    this.#db.insertRows(
      'INSERT INTO tasks (id, type, status, created_ms, run_at_ms, expires_ms, version, doc)',
      8,
      tasks.map((task, i) => [
        task.id,
        task.type,
        task.status,
        Date.parse(task.createdAt),
        Date.parse(task.runAt),
        ms(task.expiresAt),
        task.version,
        docs[i]!,
      ]),
    );
    const changes = this.#db.insertRows(
      'INSERT INTO task_changes (task_id, event, image)',
      3,
      tasks.map((task, i) => [task.id, 'INSERT', docs[i]!]),
      'RETURNING seq, task_id',
    );
    // RETURNING promises no order: match the sequence numbers to the tasks by id.
    const seqOf = new Map(changes.map((row) => [row['task_id'] as string, Number(row['seq'])]));
    for (const task of tasks) {
      this.#db.countStatus(task.status, 1);
      this.#rememberChange(seqOf.get(task.id)!, task);
    }
  }

  async get(id: string): Promise<Task | null> {
    return this.#read(id);
  }

  update(id: string, patch: TaskPatch, condition: UpdateCondition, now: string): Promise<Task> {
    return this.#db.write(() => this.#update(id, patch, condition, now));
  }

  /**
   * Like update, and runs `also` with the new task in the same transaction (see sqliteAtomicEnqueue):
   * when `also` throws, the update is not stored either.
   */
  updateWith(
    id: string,
    patch: TaskPatch,
    condition: UpdateCondition,
    now: string,
    also: (task: Task) => void,
  ): Promise<Task> {
    return this.#db.write(() => {
      const task = this.#update(id, patch, condition, now);
      also(task);
      return task;
    });
  }

  /** Inside a write: applies the patch if the condition holds (see update). */
  #update(id: string, patch: TaskPatch, condition: UpdateCondition, now: string): Task {
    const remembered = this.#recent.get(id);
    if (remembered) {
      let applied: ReturnType<typeof applyUpdate> | undefined;
      try {
        applied = applyUpdate(id, remembered, patch, condition, now);
      } catch {
        // The condition may hold for the stored task: decide on a fresh read below.
      }
      if (applied && this.#write(applied.previous, applied.next)) return applied.next;
    }
    const { previous, next } = applyUpdate(id, this.#read(id), patch, condition, now);
    this.#write(previous, next);
    return next;
  }

  /** Stores `next` over `previous` if the row is still at previous's version; false if it is not. */
  #write(previous: Task, next: Task): boolean {
    const doc = JSON.stringify(next);
    // Only the indexed columns that changed are set, so SQLite leaves the other indexes alone.
    const values: Array<string | number | null> = [next.version, doc];
    let changed = 0;
    if (next.status !== previous.status) {
      changed |= SETS_STATUS;
      values.push(next.status);
    }
    if (next.runAt !== previous.runAt) {
      changed |= SETS_RUN_AT;
      values.push(Date.parse(next.runAt));
    }
    if (next.expiresAt !== previous.expiresAt) {
      changed |= SETS_EXPIRES;
      values.push(ms(next.expiresAt));
    }
    const updated = this.#db.statement(UPDATE_SQL[changed]!).run(...values, next.id, previous.version);
    if (Number(updated.changes) === 0) {
      this.#recent.delete(next.id);
      return false;
    }
    if (next.status !== previous.status) {
      this.#db.countStatus(previous.status, -1);
      this.#db.countStatus(next.status, 1);
    }
    this.#recordChange(next, 'MODIFY', doc);
    this.#remember(next);
    return true;
  }

  deleteUnqueued(id: string, version: number): Promise<void> {
    return this.#db.write(() => {
      const deleted = this.#db
        .statement('DELETE FROM tasks WHERE id = ? AND version = ? RETURNING status')
        .get(id, version) as { status: string } | undefined;
      // A task that moved on keeps its key, or a resubmit with that key would create a duplicate.
      this.#recent.delete(id);
      if (deleted) {
        this.#db.countStatus(deleted.status, -1);
        this.#db.statement('DELETE FROM idempotency_keys WHERE task_id = ?').run(id);
      }
    });
  }

  async list(filter: TaskFilter, limit: number, nextToken: string | null): Promise<TaskPage> {
    const after = nextToken ? decodeToken(nextToken) : null;
    if (filter.status && !filter.type) return this.#listStatus(filter.status, limit, after);
    const rows = this.#listRows('created_ms, id, doc', filter, after, limit + 1) as ListRow[];
    return this.#page(
      rows.slice(0, limit).map((row) => JSON.parse(row.doc) as Task),
      rows,
      limit,
    );
  }

  /**
   * A listing by status alone. No index starts with status alone (so each change of status moves one
   * index entry, not two): the positions of each type present in the status are read from
   * (status, type, created), which covers them, and merged; then the page's own tasks are read.
   */
  #listStatus(status: TaskStatus, limit: number, after: [number, string] | null): TaskPage {
    // Several statements on one snapshot, so a task that changes status meanwhile (on another
    // connection) is not listed under the new one.
    return this.#db.snapshot(() => {
      const types = this.#db.statement(TYPES_IN_STATUS_SQL).all(status) as Array<{ type: string }>;
      const positions = types
        .flatMap(({ type }) => this.#listRows('created_ms, id', { status, type }, after, limit + 1))
        .sort((a, b) => b.created_ms - a.created_ms || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
        .slice(0, limit + 1);
      const read = this.#db.statement('SELECT doc FROM tasks WHERE id = ?');
      const items = positions.slice(0, limit).map((position) => {
        const row = read.get(position.id) as unknown as TaskRow;
        return JSON.parse(row.doc) as Task;
      });
      return this.#page(items, positions, limit);
    });
  }

  /** A page of `items`; a next token when `positions` (up to limit + 1) go past the page. */
  #page(items: Task[], positions: readonly ListPosition[], limit: number): TaskPage {
    const last = positions[limit - 1];
    return {
      items,
      nextToken: positions.length > limit && last ? encodeToken(last.created_ms, last.id) : null,
    };
  }

  /** `columns` of up to `max` tasks matching `filter`, newest first, after the position `after` if given. */
  #listRows(
    columns: ListColumns,
    filter: TaskFilter,
    after: [number, string] | null,
    max: number,
  ): Array<ListPosition & Partial<TaskRow>> {
    const params: Array<string | number> = [];
    if (filter.status) params.push(filter.status);
    if (filter.type) params.push(filter.type);
    if (after) params.push(after[0], after[1]);
    const sql = listSql(columns, { status: !!filter.status, type: !!filter.type, after: !!after });
    return this.#db.statement(sql).all(...params, max) as unknown as Array<ListPosition & Partial<TaskRow>>;
  }

  async counts(now: string): Promise<QueueCounts> {
    const counts = Object.fromEntries(ALL_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
    for (const row of this.#db.statement('SELECT status, n FROM status_counts').all() as Array<{
      status: TaskStatus;
      n: number;
    }>) {
      counts[row.status] = row.n;
    }
    const nowMs = Date.parse(now);
    const oldest = this.#db
      .statement(
        // Named, or the planner may pick an index that scans every waiting task.
        "SELECT min(run_at_ms) AS t FROM tasks INDEXED BY tasks_waiting_by_run_at WHERE status IN ('QUEUED', 'RETRYING') AND run_at_ms <= ?",
      )
      .get(nowMs) as { t: number | null };
    return {
      counts,
      oldestWaitingRunAt: oldest.t === null ? null : new Date(oldest.t).toISOString(),
    };
  }

  /** Removes finished tasks past their expiry, like DynamoDB TTL (no change is published). */
  sweepExpired(nowMs: number, max: number): Promise<number> {
    return this.#db.write(() => {
      const deleted = this.#db
        .statement(
          'DELETE FROM tasks WHERE id IN (SELECT id FROM tasks WHERE expires_ms IS NOT NULL AND expires_ms <= ? LIMIT ?) RETURNING status',
        )
        .all(nowMs, max) as Array<{ status: string }>;
      for (const { status } of deleted) this.#db.countStatus(status, -1);
      this.#db.statement('DELETE FROM idempotency_keys WHERE expires_ms <= ?').run(nowMs);
      return deleted.length;
    });
  }
}
