import { describe, expect, it } from 'vitest';
import { startRuntime, tempDataDir, waitFor } from '../helpers/runtime-process.ts';

const payload = (n: number) =>
  JSON.stringify({
    records: Array.from({ length: 400 }, (_, i) => ({ i, g: i % 7, n })),
    operations: [
      { op: 'sort', by: [{ field: 'i', order: 'desc' }] },
      { op: 'groupBy', by: ['g'], aggregates: [{ fn: 'count', as: 'c' }] },
    ],
  });

describe('durability with real processes', () => {
  it('tasks and their statuses survive a graceful restart', async () => {
    const dataDir = tempDataDir();
    let rt = await startRuntime(dataDir);
    const { body } = await rt.gql<{ submitTask: { id: string } }>(
      'mutation ($p: AWSJSON!) { submitTask(input: { type: PROCESS_DATA, payload: $p }) { id } }',
      { p: payload(1) },
    );
    const id = body.data!.submitTask.id;
    const status = async () =>
      (await rt.gql<{ task: { status: string } }>('query ($id: ID!) { task(id: $id) { status } }', { id }))
        .body.data!.task?.status;
    await waitFor(async () => (await status()) === 'SUCCEEDED', 'SUCCEEDED');
    expect(await rt.stop('SIGTERM')).toBe(0);

    rt = await startRuntime(dataDir);
    expect(await status()).toBe('SUCCEEDED');
    await rt.stop();
  });

  it('no acknowledged task is lost when the runtime is killed with SIGKILL mid-work, again and again', async () => {
    const dataDir = tempDataDir();
    const ids: string[] = [];
    let rt = await startRuntime(dataDir);
    for (let round = 0; round < 3; round++) {
      for (let batch = 0; batch < 4; batch++) {
        const inputs = Array.from({ length: 25 }, (_, i) => ({ type: 'PROCESS_DATA', payload: payload(i) }));
        const { body } = await rt.gql<{ submitTasks: Array<{ id: string }> }>(
          'mutation ($i: [SubmitTaskInput!]!) { submitTasks(inputs: $i) { id } }',
          { i: inputs },
        );
        ids.push(...body.data!.submitTasks.map((t) => t.id));
      }
      // Kill while the processors are busy with what was just acknowledged.
      expect(await rt.stop('SIGKILL')).toBe(null);
      rt = await startRuntime(dataDir);
    }
    const counts = async () =>
      (
        await rt.gql<{ queueStats: { succeeded: number; total: number } }>(
          '{ queueStats { succeeded total } }',
        )
      ).body.data!.queueStats;
    await waitFor(
      async () => (await counts()).succeeded === ids.length,
      `all ${ids.length} tasks SUCCEEDED`,
      60_000,
    );
    expect((await counts()).total).toBe(ids.length);
    for (const id of ids.slice(0, 10)) {
      const { body } = await rt.gql<{ task: { status: string; result: string } }>(
        'query ($id: ID!) { task(id: $id) { status result } }',
        { id },
      );
      expect(body.data!.task.status).toBe('SUCCEEDED');
      expect(JSON.parse(body.data!.task.result).count).toBe(7);
    }
    await rt.stop();
  });

  it('a second runtime on the same data folder refuses to start', async () => {
    const dataDir = tempDataDir();
    const rt = await startRuntime(dataDir);
    await expect(startRuntime(dataDir)).rejects.toThrow(/Another runtime \(pid \d+\) is using/);
    await rt.stop();
  });

  it('a damaged database file stops the start with a clear error instead of starting empty', async () => {
    const dataDir = tempDataDir();
    const { readFileSync, writeFileSync } = await import('node:fs');
    writeFileSync(`${dataDir}/tasks.db`, Buffer.alloc(8192, 7));
    await expect(startRuntime(dataDir)).rejects.toThrow(/Cannot open the database .*tasks\.db/);
    // Left as it was, for a restore or a look: not replaced by an empty database.
    expect(readFileSync(`${dataDir}/tasks.db`).equals(Buffer.alloc(8192, 7))).toBe(true);
  });

  it('a database file cut short (an interrupted copy) stops the start with a clear error', async () => {
    const dataDir = tempDataDir();
    const { readFileSync, statSync, truncateSync } = await import('node:fs');
    const rt = await startRuntime(dataDir);
    for (let batch = 0; batch < 4; batch++) {
      const inputs = Array.from({ length: 25 }, (_, i) => ({ type: 'PROCESS_DATA', payload: payload(i) }));
      await rt.gql('mutation ($i: [SubmitTaskInput!]!) { submitTasks(inputs: $i) { id } }', { i: inputs });
    }
    expect(await rt.stop('SIGTERM')).toBe(0);
    const path = `${dataDir}/tasks.db`;
    truncateSync(path, Math.floor(statSync(path).size / 2));
    const cut = readFileSync(path);
    await expect(startRuntime(dataDir)).rejects.toThrow(
      /exited with 1:[\s\S]*Cannot open the database .*tasks\.db: database disk image is malformed\. The file is damaged: restore it from a backup/,
    );
    expect(readFileSync(path).equals(cut)).toBe(true);
  });

  it('damage in the middle of the file, after an unclean stop, stops the start instead of failing requests later', async () => {
    const dataDir = tempDataDir();
    const rt = await startRuntime(dataDir);
    const inputs = Array.from({ length: 25 }, (_, i) => ({
      type: 'PROCESS_DATA',
      payload: JSON.stringify({
        records: Array.from({ length: 300 }, (_, j) => ({ i, j, pad: 'x'.repeat(20) })),
      }),
    }));
    for (let batch = 0; batch < 8; batch++) {
      await rt.gql('mutation ($i: [SubmitTaskInput!]!) { submitTasks(inputs: $i) { id } }', { i: inputs });
    }
    expect(await rt.stop('SIGKILL')).toBe(null);
    const path = `${dataDir}/tasks.db`;
    const { openSync, writeSync, closeSync } = await import('node:fs');
    // Fold the WAL in first (as a checkpoint would), then overwrite four pages of the tasks table from
    // the middle of the file (pages in use: free pages in the middle may hold nothing to damage).
    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(path);
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    const pageSize = (db.prepare('PRAGMA page_size').get() as { page_size: number }).page_size;
    const pages = (
      db
        .prepare(
          "SELECT pageno FROM dbstat WHERE name = 'tasks' AND pagetype IN ('leaf', 'internal') ORDER BY pageno",
        )
        .all() as Array<{ pageno: number }>
    ).map((r) => r.pageno);
    db.close();
    expect(pages.length).toBeGreaterThan(8);
    const fd = openSync(path, 'r+');
    for (const page of pages.slice(Math.floor(pages.length / 2), Math.floor(pages.length / 2) + 4)) {
      writeSync(fd, Buffer.alloc(pageSize, 0x5a), 0, pageSize, (page - 1) * pageSize);
    }
    closeSync(fd);

    await expect(startRuntime(dataDir)).rejects.toThrow(
      /tasks\.db is damaged[\s\S]*Restore it from a backup/,
    );
  });
});
