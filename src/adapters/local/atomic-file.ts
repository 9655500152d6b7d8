import { randomUUID } from 'node:crypto';
import { open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A temporary file of writeFileAtomic older than this belongs to a write that a crash cut short. */
export const STALE_TEMP_FILE_MS = 60 * 60 * 1000;

/** The temporary files writeFileAtomic makes: `.<name>.<uuid>.tmp`. */
const TEMP_FILE = /^\..+\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.tmp$/;

/**
 * Removes the temporary files of writeFileAtomic that a crash (kill -9, power loss) left in `folder`
 * and that were last written before `olderThanMs`; a write still running is younger.
 */
export function removeStaleTempFiles(folder: string, olderThanMs: number): Promise<number> {
  return removeFilesWrittenBefore(folder, olderThanMs, TEMP_FILE);
}

/**
 * Removes the files of `folder` whose names match `names` and that were last written before
 * `beforeMs`. Returns how many went; a missing folder has none.
 */
export async function removeFilesWrittenBefore(
  folder: string,
  beforeMs: number,
  names: RegExp,
): Promise<number> {
  let removed = 0;
  for (const name of await namesIn(folder)) {
    if (!names.test(name)) continue;
    const path = join(folder, name);
    const info = await stat(path).catch(() => null);
    if (info && info.mtimeMs < beforeMs) {
      await rm(path, { force: true });
      removed += 1;
    }
  }
  return removed;
}

/** The names in a folder; none when it does not exist (yet). */
async function namesIn(folder: string): Promise<string[]> {
  try {
    return await readdir(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/**
 * Writes `path` so that a reader sees either no file or the whole file, and the file survives a
 * crash once this resolves: the bytes go to a hidden temporary file beside it, which is fsynced,
 * renamed over `path`, and then the folder is fsynced so the rename itself is durable.
 * The folder must exist.
 */
export async function writeFileAtomic(path: string, data: Buffer | string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomUUID()}.tmp`);
  try {
    const file = await open(temp, 'wx', 0o600);
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await syncFolder(dirname(path));
}

/** Makes the folder's entries (a new or renamed file) durable. Windows cannot open a folder: skipped there. */
async function syncFolder(path: string): Promise<void> {
  if (process.platform === 'win32') return;
  const folder = await open(path, 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}
