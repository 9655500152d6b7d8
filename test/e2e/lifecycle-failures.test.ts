// How the runtime process meets a stop request with work in hand, and a data folder it cannot use:
// SIGTERM while slow tasks run, a read-only folder, a folder that is a file, a full disk.
//
// Simulating the bad folders honestly depends on who runs the tests:
// - Read-only: for a normal user, chmod 555 on a fresh folder. root ignores file modes, so as root
//   the folder is bind-mounted read-only onto itself (EROFS, enforced by the kernel for root too)
//   when this process may mount; when it may not, that case is skipped (the "folder is a file" case
//   still runs: it fails for every user).
// - Full disk: a small tmpfs filled to the last byte, which needs mount rights (root here); skipped
//   without them. Every mount is removed in a finally block.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  startRuntime as startRuntimeProcess,
  tempDataDir,
  waitFor,
  type RuntimeProcess,
} from '../helpers/runtime-process.ts';

/** Every runtime a test starts; one a failed test leaves running is killed (before any unmount). */
const started = new Set<RuntimeProcess>();
async function startRuntime(dataDir: string, env: Record<string, string> = {}): Promise<RuntimeProcess> {
  const rt = await startRuntimeProcess(dataDir, env);
  started.add(rt);
  return rt;
}
async function killLeftovers(): Promise<void> {
  for (const rt of started) {
    if (rt.child.exitCode === null && rt.child.signalCode === null) await rt.stop('SIGKILL');
  }
  started.clear();
}
afterEach(killLeftovers);

const isRoot = process.getuid?.() === 0;

/** Whether this process may mount (root with CAP_SYS_ADMIN, not in a locked-down container). */
function canMount(): boolean {
  if (!isRoot || process.platform !== 'linux') return false;
  const probe = mkdtempSync(join(tmpdir(), 'tq-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}
const mountable = canMount();

function unmount(path: string): void {
  try {
    execFileSync('umount', [path], { stdio: 'ignore' });
  } catch {
    execFileSync('umount', ['-l', path], { stdio: 'ignore' });
  }
}

/** Fills the file system holding `folder` to the last byte (dd stops with ENOSPC). */
function fill(folder: string): void {
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${join(folder, 'filler')}`, 'bs=4096'], { stdio: 'ignore' });
  } catch {
    // "No space left on device": the point.
  }
}

async function submit(rt: RuntimeProcess, type: string, payload: unknown): Promise<string> {
  const { body } = await rt.gql<{ submitTask: { id: string } }>(
    'mutation ($t: TaskType!, $p: AWSJSON!) { submitTask(input: { type: $t, payload: $p }) { id } }',
    { t: type, p: JSON.stringify(payload) },
  );
  if (!body.data) throw new Error(`submit failed: ${JSON.stringify(body.errors)}`);
  return body.data.submitTask.id;
}

async function task(rt: RuntimeProcess, id: string) {
  const { body } = await rt.gql<{
    task: { status: string; attempts: number; result: string | null; error: { code: string } | null } | null;
  }>('query ($id: ID!) { task(id: $id) { status attempts result error { code } } }', { id });
  return body.data!.task;
}

async function total(rt: RuntimeProcess): Promise<number> {
  const { body } = await rt.gql<{ queueStats: { total: number } }>('{ queueStats { total } }');
  return body.data!.queueStats.total;
}

/** Uploads `text` through createUploadUrl and a PUT to the signed URL; returns its blob key. */
async function upload(rt: RuntimeProcess, text: string): Promise<string> {
  const { body } = await rt.gql<{ createUploadUrl: { key: string; url: string } }>(
    'mutation { createUploadUrl(contentType: "text/plain", fileName: "big.txt") { key url } }',
  );
  const { key, url } = body.data!.createUploadUrl;
  const response = await fetch(url, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: text });
  expect(response.status).toBe(200);
  return key;
}

/** The start-up failure of a runtime that should not start: its exit code and what it printed. */
async function refusedStart(dataDir: string): Promise<string> {
  try {
    const rt = await startRuntime(dataDir);
    await rt.stop();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`the runtime started on ${dataDir}`);
}

describe('SIGTERM with tasks running', () => {
  it('exits 0 with slow tasks running; after a restart every task ends SUCCEEDED, none lost or redone', async () => {
    const dataDir = tempDataDir();
    const env = { SHUTDOWN_GRACE_SECONDS: '2', WORKER_THREADS: '1' };
    let rt = await startRuntime(dataDir, env);
    // Word counts of a 20 MB text: a few seconds each on a fast machine, longer than the grace when
    // three share a thread, so the grace usually runs out on them. The checks hold either way.
    const line = 'the quick brown fox jumps over the lazy dog while the queue keeps its promises\n';
    const text = line.repeat(Math.ceil(20_000_000 / line.length));
    const key = await upload(rt, text);
    const slow = [
      await submit(rt, 'WORD_COUNT', { key }),
      await submit(rt, 'WORD_COUNT', { key }),
      await submit(rt, 'WORD_COUNT', { key }),
    ];
    const quick = [];
    for (let i = 0; i < 5; i++) {
      quick.push(await submit(rt, 'PROCESS_DATA', { records: [{ n: i }, { n: i + 1 }] }));
    }
    await waitFor(
      async () => (await Promise.all(slow.map((id) => task(rt, id)))).every((t) => t?.status === 'RUNNING'),
      'the slow tasks RUNNING',
    );

    const exited = rt.stop('SIGTERM');
    // A liveness bound only (the grace is 2 s): a runtime that hangs fails here instead of at the
    // test timeout.
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      exited,
      new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve('still running 30 s after SIGTERM'), 30_000);
      }),
    ]);
    clearTimeout(timer);
    expect(code, rt.output()).toBe(0);
    const output = rt.output();
    expect(output).toMatch(/SIGTERM: finishing running tasks \(up to 2 s\), then stopping/);
    rt = await startRuntime(dataDir, env);
    const all = [...slow, ...quick];
    await waitFor(
      async () => (await Promise.all(all.map((id) => task(rt, id)))).every((t) => t?.status === 'SUCCEEDED'),
      'every task SUCCEEDED after the restart',
      60_000,
    );
    expect(await total(rt)).toBe(all.length);
    const lines = text.length / line.length;
    const expected = { lines, words: lines * 15, characters: lines * (line.length - 1) };
    for (const id of slow) {
      const t = (await task(rt, id))!;
      expect(JSON.parse(t.result!)).toMatchObject(expected);
      // Once before the SIGTERM (released when the grace ran out), at most once more after it.
      expect(t.attempts).toBeLessThanOrEqual(2);
    }
    // Finished work is not redone: a quick task whose message came back after the restart is dropped.
    for (const id of quick) expect((await task(rt, id))!.attempts).toBe(1);
    await rt.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }, 120_000);
});

describe('a data folder the runtime cannot use', () => {
  it.skipIf(isRoot && !mountable)(
    `a read-only folder stops the start with an error naming it and the fix (${isRoot ? 'read-only bind mount' : 'chmod 555'})`,
    async () => {
      // Two folders: a fresh one, and one holding a database with a task, which must survive.
      const fresh = tempDataDir();
      const used = tempDataDir();
      let rt = await startRuntime(used);
      const id = await submit(rt, 'PROCESS_DATA', { records: [{ n: 1 }] });
      await waitFor(async () => (await task(rt, id))?.status === 'SUCCEEDED', 'the task SUCCEEDED');
      expect(await rt.stop()).toBe(0);
      const before = readFileSync(join(used, 'tasks.db'));

      const readOnly = (dir: string) => {
        if (isRoot) {
          execFileSync('mount', ['--bind', dir, dir]);
          execFileSync('mount', ['-o', 'remount,bind,ro', dir]);
        } else chmodSync(dir, 0o555);
      };
      const writable = (dir: string) => (isRoot ? unmount(dir) : chmodSync(dir, 0o755));
      readOnly(fresh);
      try {
        readOnly(used);
        try {
          for (const dir of [fresh, used]) {
            const message = await refusedStart(dir);
            expect(message).toMatch(/runtime exited with 1/);
            expect(message).toContain(`Cannot open the database ${join(dir, 'tasks.db')}`);
            expect(message).toMatch(/set DATA_DIR to a writable folder/);
            expect(message).not.toContain('move it away');
          }
        } finally {
          writable(used);
        }
      } finally {
        writable(fresh);
      }
      // Nothing was replaced: the same file, and the task is there on the next start.
      expect(readFileSync(join(used, 'tasks.db')).equals(before)).toBe(true);
      rt = await startRuntime(used);
      expect((await task(rt, id))?.status).toBe('SUCCEEDED');
      await rt.stop();
      for (const dir of [fresh, used]) rmSync(dir, { recursive: true, force: true });
    },
  );

  it('a DATA_DIR below a regular file stops the start with an error naming the path', async () => {
    const parent = tempDataDir();
    writeFileSync(join(parent, 'file'), 'not a folder');
    const dataDir = join(parent, 'file', 'data');
    const message = await refusedStart(dataDir);
    expect(message).toMatch(/runtime exited with 1/);
    expect(message).toContain(dataDir);
    rmSync(parent, { recursive: true, force: true });
  });
});

describe.skipIf(!mountable)('a full disk (a small tmpfs filled to the last byte)', () => {
  it('stops the start with a clear error, fresh or with a database, and never starts empty', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'tq-full-'));
    const used = mkdtempSync(join(tmpdir(), 'tq-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', fresh]);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', used]);
      try {
        let rt = await startRuntime(used);
        const id = await submit(rt, 'PROCESS_DATA', { records: [{ n: 1 }] });
        await waitFor(async () => (await task(rt, id))?.status === 'SUCCEEDED', 'the task SUCCEEDED');
        expect(await rt.stop()).toBe(0);
        const before = readFileSync(join(used, 'tasks.db'));

        fill(fresh);
        fill(used);
        for (const dir of [fresh, used]) {
          const message = await refusedStart(dir);
          expect(message).toMatch(/runtime exited with 1/);
          expect(message).toContain(`Cannot open the database ${join(dir, 'tasks.db')}`);
          expect(message).toMatch(/disk is full|disk I\/O error/);
          expect(message).toMatch(/free space/);
          // A full disk is no reason to throw the database away.
          expect(message).not.toContain('move it away');
        }
        expect(readFileSync(join(used, 'tasks.db')).equals(before)).toBe(true);

        // With space again, the same database, with its task.
        rmSync(join(used, 'filler'));
        rt = await startRuntime(used);
        expect((await task(rt, id))?.status).toBe('SUCCEEDED');
        expect(await total(rt)).toBe(1);
        await rt.stop();
      } finally {
        await killLeftovers();
        unmount(used);
      }
    } finally {
      unmount(fresh);
      rmSync(fresh, { recursive: true, force: true });
      rmSync(used, { recursive: true, force: true });
    }
  }, 60_000);

  it('a disk filling up while running refuses submits, and keeps every acknowledged task', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tq-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', dataDir]);
    try {
      let rt = await startRuntime(dataDir);
      // ~200 KB payloads until the disk is full and a submit fails.
      const payload = {
        records: Array.from({ length: 2000 }, (_, i) => ({ i, pad: 'x'.repeat(80) })),
        operations: [{ op: 'limit', count: 1 }],
      };
      const acknowledged: string[] = [];
      let refusal: Record<string, unknown> | undefined;
      for (let n = 0; n < 50 && !refusal; n++) {
        const { body } = await rt.gql<{ submitTask: { id: string } }>(
          'mutation ($p: AWSJSON!) { submitTask(input: { type: PROCESS_DATA, payload: $p }) { id } }',
          { p: JSON.stringify(payload) },
        );
        if (body.data) acknowledged.push(body.data.submitTask.id);
        else refusal = body.errors?.[0];
      }
      expect(refusal, 'a submit failed once the disk was full').toBeDefined();
      // The client learns it is storage, not its request and not a bug; the log says what happened.
      expect(refusal!['errorType']).toBe('StorageUnavailableError');
      expect(String(refusal!['message'])).toMatch(/disk is full.*Nothing was stored; try again later/);
      expect(rt.output()).toMatch(/Commit to \S+tasks\.db failed: database or disk is full/);
      expect(acknowledged.length).toBeGreaterThan(0);
      expect(await rt.stop()).toBe(0);

      // Space again (the tmpfs grows): every acknowledged task is there and runs; nothing else was stored.
      execFileSync('mount', ['-o', 'remount,size=32m', dataDir]);
      rt = await startRuntime(dataDir);
      await waitFor(
        async () =>
          (await Promise.all(acknowledged.map((id) => task(rt, id)))).every((t) => t?.status === 'SUCCEEDED'),
        'every acknowledged task SUCCEEDED',
      );
      expect(await total(rt)).toBe(acknowledged.length);
      await rt.stop();
    } finally {
      await killLeftovers();
      unmount(dataDir);
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
