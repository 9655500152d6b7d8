import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteDatabase } from '../../src/adapters/sqlite/sqlite-database.ts';

/** A fresh SQLite file in its own temp folder. `cleanup` closes it and removes the folder. */
export function tempSqlite(): { dir: string; path: string; db: SqliteDatabase; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tq-'));
  const path = join(dir, 'tasks.db');
  const db = new SqliteDatabase(path);
  return {
    dir,
    path,
    db,
    cleanup: () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
