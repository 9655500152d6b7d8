import { DatabaseSync, type SQLInputValue, type SQLOutputValue, type StatementSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** How hard a commit waits for the disk. See the README's reliability section. */
export type Durability = 'normal' | 'full';

/** Raised when the database file cannot be opened or used; the message names the file and the fix. */
export class StorageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageError';
  }
}

const SCHEMA_VERSION = 3;

/** How long a write waits, by default, for another connection to release the write lock. */
const BUSY_TIMEOUT_MS = 10_000;
const SQLITE_BUSY = 5;
/** Rows per multi-row INSERT (see insertRows); prepared statements are kept per row count up to it. */
const ROWS_PER_INSERT = 100;
/** The size a WAL file is cut back to when it starts over (see journal_size_limit). */
const WAL_SIZE_LIMIT_BYTES = 32 * 1024 * 1024;
/** How long a RESTART checkpoint waits for the transactions of the moment. */
const RESTART_WAIT_MS = 200;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;

CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  status TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  run_at_ms INTEGER NOT NULL,
  expires_ms INTEGER,
  version INTEGER NOT NULL,
  doc TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tasks_by_created ON tasks (created_ms, id);
CREATE INDEX IF NOT EXISTS tasks_by_type ON tasks (type, created_ms, id);
-- Also serves status alone: a listing by status merges the types in it (see SqliteTaskStore.list),
-- so each change of status moves one index entry, not two.
CREATE INDEX IF NOT EXISTS tasks_by_status_type ON tasks (status, type, created_ms, id);
-- Only waiting tasks are in it, so running and finishing a task leaves it alone.
CREATE INDEX IF NOT EXISTS tasks_waiting_by_run_at ON tasks (run_at_ms) WHERE status IN ('QUEUED', 'RETRYING');
CREATE INDEX IF NOT EXISTS tasks_expiry ON tasks (expires_ms) WHERE expires_ms IS NOT NULL;

-- Tasks per status, so queueStats costs the same with 1k or 10M tasks. Writes report their changes
-- (countStatus) and each commit adds them up in one statement per status; triggers cost more than
-- the rest of a task update together.
CREATE TABLE IF NOT EXISTS status_counts (status TEXT PRIMARY KEY, n INTEGER NOT NULL) STRICT;

CREATE TABLE IF NOT EXISTS idempotency_keys (
  key TEXT PRIMARY KEY,
  task_id TEXT NOT NULL,
  expires_ms INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_expiry ON idempotency_keys (expires_ms);

-- The committed changes of tasks, in commit order: the local twin of a DynamoDB stream.
CREATE TABLE IF NOT EXISTS task_changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id TEXT NOT NULL,
  event TEXT NOT NULL,
  image TEXT NOT NULL
) STRICT;

-- Queue messages with SQS semantics; queue is 'main' or 'dead'.
CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY,
  queue TEXT NOT NULL,
  body TEXT NOT NULL,
  visible_ms INTEGER NOT NULL,
  receive_count INTEGER NOT NULL DEFAULT 0,
  sent_ms INTEGER NOT NULL,
  first_receive_ms INTEGER,
  reason TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, visible_ms);
`;

/** From schema version 1: status counts kept by the writes instead of triggers; a smaller waiting index. */
const MIGRATE_1_TO_2 = `
DROP TRIGGER IF EXISTS tasks_count_insert;
DROP TRIGGER IF EXISTS tasks_count_update;
DROP TRIGGER IF EXISTS tasks_count_delete;
DROP INDEX IF EXISTS tasks_waiting;
`;

/** From schema version 2: listings by status use tasks_by_status_type alone. */
const MIGRATE_2_TO_3 = `
DROP INDEX IF EXISTS tasks_by_status;
`;

/** A message that says what went wrong and what to do, by the kind of failure SQLite reported. */
function adviceFor(error: unknown): string {
  const text = (error as Error).message ?? String(error);
  if (/full|SQLITE_FULL|ENOSPC/i.test(text)) {
    return `${text}. The disk is full: free space (or set DATA_DIR to a folder on a disk with room) and start again; the database itself is intact.`;
  }
  if (/read-?only|EROFS|EACCES|EPERM|SQLITE_READONLY|unable to open/i.test(text)) {
    return `${text}. The folder or file is not writable: make it writable, or set DATA_DIR to a writable folder.`;
  }
  if (/ENOTDIR|EEXIST/i.test(text)) {
    return `${text}. DATA_DIR must name a folder (or where one can be made), not a file or a path below a file.`;
  }
  if (/malformed|not a database|corrupt/i.test(text)) {
    return `${text}. The file is damaged: restore it from a backup; to start empty instead, move it away (its tasks are then gone).`;
  }
  return `${text}. Check that DATA_DIR is a writable folder with free space.`;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

interface PendingWrite {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * One SQLite database file in WAL mode, with group commit: writes issued in the same turn of the
 * event loop run in one transaction, and each write's promise resolves only after that transaction
 * committed. Many small writes then cost one commit, which is where SQLite spends its time. One
 * failing write does not undo the others (see #runBatch).
 *
 * Several connections (threads, processes) may share the file: writers take turns through SQLite's
 * write lock. A connection that finds the lock taken does not block its thread: it retries on the
 * next turns of the event loop, for up to the busy timeout.
 */
export class SqliteDatabase {
  readonly db: DatabaseSync;
  readonly path: string;
  readonly #statements = new Map<string, StatementSync>();
  #pending: PendingWrite[] = [];
  #scheduled = false;
  #closed = false;
  /** Status count changes of the write running now. */
  #writeCounts: Map<string, number> | undefined;
  /** When the write lock was first found held by another connection, while it still is. */
  #lockedSince: number | undefined;
  #lockRetries = 0;
  readonly #commitListeners: Array<() => void> = [];
  readonly #rollbackListeners: Array<() => void> = [];

  readonly #busyTimeoutMs: number;

  constructor(
    path: string,
    options: {
      durability?: Durability;
      readOnly?: boolean;
      busyTimeoutMs?: number;
      /**
       * false: commits never checkpoint the WAL. Something must then call checkpoint() regularly (on
       * this connection or another, usually from a thread of its own), or the WAL grows without end.
       */
      autoCheckpoint?: boolean;
    } = {},
  ) {
    this.path = path;
    this.#busyTimeoutMs = options.busyTimeoutMs ?? BUSY_TIMEOUT_MS;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.db = new DatabaseSync(path, { readOnly: options.readOnly ?? false });
      this.db.exec(`PRAGMA busy_timeout = ${this.#busyTimeoutMs}`);
      // Reading the schema touches the file header: a damaged file fails here, not later.
      this.db.prepare('PRAGMA schema_version').get();
      if (!options.readOnly) {
        this.db.exec('PRAGMA journal_mode = WAL');
        // Statement journals (kept while a statement or savepoint may still roll back) stay in
        // memory instead of temporary files: they are small, and writing them cost more than the data.
        this.db.exec('PRAGMA temp_store = MEMORY');
        // Off: a commit that leaves the WAL over 1000 pages no longer copies it into the file there and
        // then (SQLite's default), which ends with fsyncs that stall the committing thread.
        if (options.autoCheckpoint === false) this.db.exec('PRAGMA wal_autocheckpoint = 0');
        // When the WAL starts over, a file grown past this during a burst is cut back to it.
        this.db.exec(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
        this.db.exec(`PRAGMA synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`);
        this.migrate();
      }
    } catch (error) {
      throw new StorageError(`Cannot open the database ${path}: ${adviceFor(error)}`, { cause: error });
    }
  }

  /**
   * Checks every page of the file (PRAGMA quick_check, which reads the whole file: run it after an
   * unclean shutdown, not on every start). Throws StorageError when the file is damaged.
   */
  verifyIntegrity(): void {
    let problems: string[];
    try {
      const rows = this.db.prepare('PRAGMA quick_check').all() as Array<{ quick_check: string }>;
      problems = rows.map((r) => r.quick_check).filter((r) => r !== 'ok');
    } catch (error) {
      // So damaged that the check itself cannot read it.
      problems = [(error as Error).message];
    }
    if (problems.length > 0) {
      throw new StorageError(
        `The database ${this.path} is damaged (${problems.slice(0, 3).join('; ')}). Restore it from a backup; ` +
          'to start empty instead, move the file away (the tasks in it are then gone).',
      );
    }
  }

  private migrate(): void {
    const row = this.db.prepare('PRAGMA user_version').get() as { user_version: number };
    if (row.user_version > SCHEMA_VERSION) {
      throw new Error(
        `the file has schema version ${row.user_version}, newer than this program's ${SCHEMA_VERSION}; upgrade the program`,
      );
    }
    if (row.user_version === SCHEMA_VERSION) return;
    this.db.exec('BEGIN IMMEDIATE');
    try {
      if (row.user_version === 1) this.db.exec(MIGRATE_1_TO_2);
      if (row.user_version >= 1 && row.user_version <= 2) this.db.exec(MIGRATE_2_TO_3);
      this.db.exec(SCHEMA);
      this.db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
      this.db.exec('COMMIT');
    } catch (error) {
      this.db.exec('ROLLBACK');
      throw error;
    }
  }

  /**
   * Copies committed WAL frames into the database file. PASSIVE waits for nobody and copies what no
   * reader still needs. RESTART also waits (up to RESTART_WAIT_MS) for writers and readers to finish,
   * so that the next commit writes the WAL from its start again: without one, a WAL that other
   * connections keep writing to grows without end. Returns the frames in the WAL and how many of
   * them are in the file now, and whether the wait ran out (busy).
   */
  checkpoint(mode: 'PASSIVE' | 'RESTART' = 'PASSIVE'): {
    busy: boolean;
    walFrames: number;
    checkpointed: number;
  } {
    // A RESTART waits for the writers and readers of the moment (short transactions), not for the
    // whole busy timeout: if one runs long, the next tick tries again.
    if (mode === 'RESTART') this.statement(`PRAGMA busy_timeout = ${RESTART_WAIT_MS}`).run();
    try {
      const row = this.statement(`PRAGMA wal_checkpoint(${mode})`).get() as {
        busy: number;
        log: number;
        checkpointed: number;
      };
      return { busy: row.busy !== 0, walFrames: row.log, checkpointed: row.checkpointed };
    } catch (error) {
      throw new StorageError(`Checkpoint of ${this.path} failed: ${adviceFor(error)}`, { cause: error });
    } finally {
      if (mode === 'RESTART') this.statement(`PRAGMA busy_timeout = ${this.#busyTimeoutMs}`).run();
    }
  }

  /** A prepared statement, cached by its SQL text. */
  statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /**
   * Inserts `rows` (each `width` values) with multi-row INSERT statements, at most ROWS_PER_INSERT
   * rows each: one statement for a batch costs far less than one per row. `into` is the statement up
   * to VALUES (`INSERT INTO t (a, b)`); `returning`, if given, is appended (`RETURNING seq`), and the
   * returned rows come back (in no promised order: SQLite does not promise one).
   */
  insertRows(
    into: string,
    width: number,
    rows: ReadonlyArray<ReadonlyArray<SQLInputValue>>,
    returning = '',
  ): Array<Record<string, SQLOutputValue>> {
    const returned: Array<Record<string, SQLOutputValue>> = [];
    for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) {
      const chunk = rows.slice(start, start + ROWS_PER_INSERT);
      const tuple = `(${'?, '.repeat(width - 1)}?)`;
      const statement = this.statement(
        `${into} VALUES ${Array.from(chunk, () => tuple).join(', ')}${returning ? ` ${returning}` : ''}`,
      );
      const values = chunk.flat();
      if (returning) returned.push(...statement.all(...values));
      else statement.run(...values);
    }
    return returned;
  }

  /**
   * Runs `read` (statements that only read) on one snapshot of the file: a read transaction, so
   * another connection's commits in between are not seen. Inside an open transaction it runs in that one.
   */
  snapshot<T>(read: () => T): T {
    if (this.db.isTransaction) return read();
    this.statement('BEGIN').run();
    try {
      const value = read();
      this.statement('COMMIT').run();
      return value;
    } catch (error) {
      this.#rollBackIfOpen();
      throw error;
    }
  }

  /** Ends the open transaction, if SQLite has not already ended it itself (I/O, a full disk, out of memory). */
  #rollBackIfOpen(): void {
    if (!this.db.isTransaction) return;
    try {
      this.db.exec('ROLLBACK');
    } catch {
      // Rolled back by SQLite meanwhile.
    }
  }

  /** Runs `run` inside the next group commit; resolves with its value once committed. */
  write<T>(run: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new StorageError(`The database ${this.path} is closed.`));
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ run, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    const flush = () => {
      this.#scheduled = false;
      this.#flush(false);
    };
    // While another connection holds the write lock, retry on the next turns of the loop (then
    // every millisecond) instead of blocking this thread in SQLite's busy handler.
    if (this.#lockedSince === undefined || this.#lockRetries < 8) setImmediate(flush);
    else setTimeout(flush, 1);
  }

  /**
   * Inside a write: `delta` tasks more (or fewer) with `status`. The counts of a batch's successful
   * writes are added to status_counts in the same transaction, one statement per status.
   */
  countStatus(status: string, delta: number): void {
    const counts = this.#writeCounts;
    if (!counts) throw new Error('countStatus is only valid inside a write');
    counts.set(status, (counts.get(status) ?? 0) + delta);
  }

  /**
   * Called after anything written was rolled back: a group's transaction (to replay it, or because its
   * commit failed), or one failed write of a replayed group.
   */
  onRollback(listener: () => void): void {
    this.#rollbackListeners.push(listener);
  }

  /** Called after every commit that wrote something (the change feed listens). */
  onCommit(listener: () => void): void {
    this.#commitListeners.push(listener);
  }

  /**
   * Commits everything pending. When another connection holds the write lock, a non-blocking flush
   * leaves the writes pending and tries again shortly (writes arriving meanwhile join the batch);
   * after the busy timeout they fail with a StorageError. A blocking flush waits in SQLite's busy
   * handler instead.
   */
  #flush(blocking: boolean): void {
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    let outcomes: Outcome[] | 'replay' | 'failed';
    try {
      if (!this.#begin(blocking)) {
        this.#whileLocked(batch);
        return;
      }
      outcomes = this.#runBatch(batch, false);
      if (outcomes === 'replay') {
        // The lock was given up by the rollback: take it again without blocking, or try later.
        if (!this.#begin(blocking)) {
          this.#whileLocked(batch);
          return;
        }
        outcomes = this.#runBatch(batch, true);
      }
    } catch (error) {
      // The lock could not be taken for another reason than a busy peer (I/O, read-only, full), or
      // SQLite ended the transaction itself: nothing of the batch stays.
      this.#rollBackIfOpen();
      for (const listener of this.#rollbackListeners) listener();
      for (const write of batch) write.reject(new StorageError(adviceFor(error), { cause: error }));
      return;
    }
    if (outcomes === 'failed') return;
    if (outcomes === 'replay') throw new Error('a batch run in savepoints never asks for a replay');
    batch.forEach((write, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) write.resolve(outcome.value);
      else write.reject(outcome.error);
    });
    for (const listener of this.#commitListeners) listener();
  }

  /** Another connection holds the write lock: keep the batch for the next try, or give up after the busy timeout. */
  #whileLocked(batch: PendingWrite[]): void {
    const lockedFor = performance.now() - this.#lockedSince!;
    if (lockedFor < this.#busyTimeoutMs) {
      this.#pending = batch.concat(this.#pending);
      this.#lockRetries += 1;
      this.#schedule();
      return;
    }
    this.#lockedSince = undefined;
    this.#lockRetries = 0;
    const error = new StorageError(
      `The database ${this.path} stayed locked by another connection for ${Math.round(lockedFor)} ms. ` +
        'Another program may hold it in a long transaction: end that program, or give this runtime its own DATA_DIR.',
    );
    for (const write of batch) write.reject(error);
  }

  /**
   * Takes the write lock (BEGIN IMMEDIATE). Without `blocking`, returns false at once when another
   * connection holds it. Other failures throw.
   */
  #begin(blocking: boolean): boolean {
    // Transaction statements are prepared once: parsing them for every write cost more than the writes.
    const tx = this.statement.bind(this);
    if (blocking) {
      tx('BEGIN IMMEDIATE').run();
      return true;
    }
    tx('PRAGMA busy_timeout = 0').run();
    try {
      tx('BEGIN IMMEDIATE').run();
      this.#lockedSince = undefined;
      this.#lockRetries = 0;
      return true;
    } catch (error) {
      // Extended codes too (SQLITE_BUSY_RECOVERY, SQLITE_BUSY_SNAPSHOT…): the low byte is the primary code.
      if (((error as { errcode?: number }).errcode ?? 0) % 256 !== SQLITE_BUSY) throw error;
      this.#lockedSince ??= performance.now();
      return false;
    } finally {
      tx(`PRAGMA busy_timeout = ${this.#busyTimeoutMs}`).run();
    }
  }

  /**
   * Runs a batch in one transaction and commits it. Without savepoints (the fast path) a write that
   * throws makes the whole transaction roll back and returns 'replay': the batch runs again with a
   * savepoint around each write, so the failing write is undone alone and the others commit. Writes
   * touch nothing but the database, so running one again is safe; failures are rare (a lost race
   * on a condition), so the fast path skips a savepoint per write. 'failed' means every write was
   * rejected (the transaction could not start or commit).
   */
  #runBatch(batch: PendingWrite[], savepoints: boolean): Outcome[] | 'replay' | 'failed' {
    const tx = this.statement.bind(this);
    const outcomes: Outcome[] = [];
    const batchCounts = new Map<string, number>();
    for (const write of batch) {
      if (savepoints) tx('SAVEPOINT w').run();
      const writeCounts = new Map<string, number>();
      this.#writeCounts = writeCounts;
      try {
        const value = write.run();
        if (savepoints) tx('RELEASE w').run();
        outcomes.push({ ok: true, value });
        for (const [status, delta] of writeCounts)
          batchCounts.set(status, (batchCounts.get(status) ?? 0) + delta);
      } catch (error) {
        // On some errors (a full disk, I/O, out of memory) SQLite rolls the whole transaction back:
        // then every write of the batch fails (see #flush), none may go on outside a transaction.
        if (!this.db.isTransaction) throw error;
        if (!savepoints) {
          tx('ROLLBACK').run();
          for (const listener of this.#rollbackListeners) listener();
          return 'replay';
        }
        tx('ROLLBACK TO w').run();
        tx('RELEASE w').run();
        // What the write remembered of rows it wrote is gone with them.
        for (const listener of this.#rollbackListeners) listener();
        outcomes.push({ ok: false, error });
      } finally {
        this.#writeCounts = undefined;
      }
    }
    try {
      const addCount = tx(
        'INSERT INTO status_counts (status, n) VALUES (?, ?) ON CONFLICT (status) DO UPDATE SET n = n + excluded.n',
      );
      for (const [status, delta] of batchCounts) if (delta !== 0) addCount.run(status, delta);
      tx('COMMIT').run();
    } catch (error) {
      // The failed COMMIT may already have rolled back.
      this.#rollBackIfOpen();
      for (const listener of this.#rollbackListeners) listener();
      const failure = new StorageError(`Commit to ${this.path} failed: ${(error as Error).message}`, {
        cause: error,
      });
      for (const write of batch) write.reject(failure);
      return 'failed';
    }
    return outcomes;
  }

  close(): void {
    if (this.#closed) return;
    this.#flush(true);
    this.#closed = true;
    this.db.close();
  }
}
