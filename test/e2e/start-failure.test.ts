import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { loadLocalConfig } from '../../src/config/local-config.ts';
import { startLocalRuntime } from '../../src/local/runtime.ts';
import { tempDataDir } from '../helpers/runtime-process.ts';

describe('a start that fails half way', () => {
  const cleanup: Array<() => void> = [];

  afterEach(() => {
    for (const step of cleanup.splice(0)) step();
  });

  it('stops what it had started: the checkpointer thread, and every database connection', async () => {
    const dataDir = tempDataDir();
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    // The port is taken, so the start fails after the database, the checkpointer and the resolvers.
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => taken.close());
    const port = String((taken.address() as { port: number }).port);

    const failure = await startLocalRuntime(
      loadLocalConfig({ DATA_DIR: dataDir, PORT: port, HOST: '127.0.0.1', LOG_LEVEL: 'silent' }),
    ).then(
      () => null,
      (error: unknown) => error,
    );

    expect(String(failure)).toMatch(/EADDRINUSE|in use/);
    // The last connection to close removes the WAL: none is left open, the checkpointer's included.
    expect(existsSync(join(dataDir, 'tasks.db'))).toBe(true);
    expect(existsSync(join(dataDir, 'tasks.db-wal'))).toBe(false);
  });
});
