import { DatabaseSync, type StatementSync } from 'node:sqlite';
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

const SCHEMA_VERSION = 1;

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
CREATE INDEX IF NOT EXISTS tasks_by_status ON tasks (status, created_ms, id);
CREATE INDEX IF NOT EXISTS tasks_by_type ON tasks (type, created_ms, id);
CREATE INDEX IF NOT EXISTS tasks_by_status_type ON tasks (status, type, created_ms, id);
CREATE INDEX IF NOT EXISTS tasks_waiting ON tasks (status, run_at_ms);
CREATE INDEX IF NOT EXISTS tasks_expiry ON tasks (expires_ms) WHERE expires_ms IS NOT NULL;

-- Kept by triggers so queueStats costs the same with 1k or 10M tasks.
CREATE TABLE IF NOT EXISTS status_counts (status TEXT PRIMARY KEY, n INTEGER NOT NULL) STRICT;
CREATE TRIGGER IF NOT EXISTS tasks_count_insert AFTER INSERT ON tasks BEGIN
  INSERT INTO status_counts (status, n) VALUES (new.status, 1) ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS tasks_count_update AFTER UPDATE OF status ON tasks WHEN old.status <> new.status BEGIN
  UPDATE status_counts SET n = n - 1 WHERE status = old.status;
  INSERT INTO status_counts (status, n) VALUES (new.status, 1) ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS tasks_count_delete AFTER DELETE ON tasks BEGIN
  UPDATE status_counts SET n = n - 1 WHERE status = old.status;
END;

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

interface PendingWrite {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * One SQLite database file in WAL mode, with group commit: writes issued in the same turn of the
 * event loop run in one transaction, and each write's promise resolves only after that transaction
 * committed. Many small writes then cost one commit, which is where SQLite spends its time. Each
 * write runs in a savepoint, so one failing write does not undo the others.
 *
 * Several connections (threads, processes) may share the file: writers take turns through SQLite's
 * lock with a busy timeout.
 */
export class SqliteDatabase {
  readonly db: DatabaseSync;
  readonly path: string;
  readonly #statements = new Map<string, StatementSync>();
  #pending: PendingWrite[] = [];
  #scheduled = false;
  #closed = false;
  readonly #commitListeners: Array<() => void> = [];

  constructor(path: string, options: { durability?: Durability; readOnly?: boolean } = {}) {
    this.path = path;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.db = new DatabaseSync(path, { readOnly: options.readOnly ?? false });
      this.db.exec('PRAGMA busy_timeout = 10000');
      // Reading the schema touches the file header: a damaged file fails here, not later.
      this.db.prepare('PRAGMA schema_version').get();
      if (!options.readOnly) {
        this.db.exec('PRAGMA journal_mode = WAL');
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
    const rows = this.db.prepare('PRAGMA quick_check').all() as Array<{ quick_check: string }>;
    const problems = rows.map((r) => r.quick_check).filter((r) => r !== 'ok');
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
      this.db.exec(SCHEMA);
      this.db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
      this.db.exec('COMMIT');
    } catch (error) {
      this.db.exec('ROLLBACK');
      throw error;
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

  /** Runs `run` inside the next group commit; resolves with its value once committed. */
  write<T>(run: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new StorageError(`The database ${this.path} is closed.`));
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ run, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Called after every commit that wrote something (the change feed listens). */
  onCommit(listener: () => void): void {
    this.#commitListeners.push(listener);
  }

  /** Commits everything pending now. */
  flush(): void {
    this.#scheduled = false;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    // Transaction statements are prepared once: parsing them for every write cost more than the writes.
    const tx = this.statement.bind(this);
    try {
      tx('BEGIN IMMEDIATE').run();
    } catch (error) {
      for (const write of batch) write.reject(error);
      return;
    }
    for (const write of batch) {
      tx('SAVEPOINT w').run();
      try {
        const value = write.run();
        tx('RELEASE w').run();
        outcomes.push({ ok: true, value });
      } catch (error) {
        tx('ROLLBACK TO w').run();
        tx('RELEASE w').run();
        outcomes.push({ ok: false, error });
      }
    }
    try {
      tx('COMMIT').run();
    } catch (error) {
      try {
        this.db.exec('ROLLBACK');
      } catch {
        // The failed COMMIT may already have rolled back.
      }
      const failure = new StorageError(`Commit to ${this.path} failed: ${(error as Error).message}`, {
        cause: error,
      });
      for (const write of batch) write.reject(failure);
      return;
    }
    batch.forEach((write, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) write.resolve(outcome.value);
      else write.reject(outcome.error);
    });
    for (const listener of this.#commitListeners) listener();
  }

  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    this.db.close();
  }
}
