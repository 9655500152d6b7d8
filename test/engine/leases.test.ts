import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeTaskMessage } from '../../src/domain/task.ts';
import { openEngine, waitFor, type Engine } from '../helpers/engine-harness.ts';

const CHILD = fileURLToPath(new URL('../fixtures/engine/processor-child.ts', import.meta.url));

interface Child {
  process: ChildProcess;
  lines: string[];
  stderr: string[];
  exited: Promise<void>;
}

let engine: Engine | undefined;
let child: Child | undefined;

/** Starts the processor fixture on the engine's database file, as another OS process. */
function startChild(dbPath: string): Child {
  const proc = spawn(process.execPath, [CHILD, dbPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const stderr: string[] = [];
  let buffered = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
  });
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return { process: proc, lines, stderr, exited };
}

async function waitForLine(c: Child, line: string): Promise<void> {
  await waitFor(
    () => {
      if (c.process.exitCode !== null) {
        throw new Error(`the child exited (${c.process.exitCode}): ${c.stderr.join('')}`);
      }
      return c.lines.includes(line);
    },
    { what: `the child to print "${line}"` },
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}; child stderr: ${c.stderr.join('')}`, { cause: error });
  });
}

async function killChild(c: Child): Promise<void> {
  if (c.process.exitCode === null && c.process.signalCode === null) c.process.kill('SIGKILL');
  await c.exited;
}

afterEach(async () => {
  if (child) await killChild(child);
  child = undefined;
  await engine?.close();
  engine = undefined;
});

describe('a task whose worker process is killed', () => {
  it('is run again after its lease runs out, as attempt 2, and SUCCEEDS', async () => {
    // prepare
    engine = await openEngine({ startPoller: false });
    const { id } = await engine.submit({
      type: 'SLOW',
      payload: { ms: 60_000, secondRunMs: 50 },
      timeoutSeconds: 120,
      maxAttempts: 3,
    });
    child = startChild(engine.dbPath);
    await waitForLine(child, `RUNNING ${id} 1`);
    const held = await engine.waitForTask(id, 'RUNNING', (t) => t.attempts === 1);
    expect(held.leaseExpiresAt).not.toBeNull();

    // act
    await killChild(child);
    engine.startPoller();

    // assess
    const done = await engine.waitForTask(id, 'SUCCEEDED');
    expect(done.attempts).toBe(2);
    expect(JSON.parse(done.result!)).toEqual({ attempt: 2, ms: 50 });
    expect(engine.probe.invocationsOf(id)).toBe(1);
    await engine.waitForUpdate(id, 'SUCCEEDED');
    const updates = engine.updatesFor(id);
    expect(updates.map((u) => u.status).filter((s, i, all) => s !== all[i - 1])).toEqual([
      'QUEUED',
      'RUNNING',
      'SUCCEEDED',
    ]);
    const takeover = updates.findIndex((u) => u.status === 'RUNNING' && u.attempts === 2);
    expect(takeover).toBeGreaterThan(0);
    const before = updates[takeover - 1]!;
    const after = updates[takeover]!;
    expect(before).toMatchObject({ status: 'RUNNING', attempts: 1 });
    expect(after.version).toBeGreaterThan(before.version);
    expect(Date.parse(after.startedAt!)).toBeGreaterThanOrEqual(Date.parse(before.leaseExpiresAt!));
    expect(updates.map((u) => u.version)).toEqual([...updates.map((u) => u.version)].sort((a, b) => a - b));
  });

  it('FAILS with WORKER_LOST on the next delivery when it had no attempts left', async () => {
    // prepare
    engine = await openEngine({ startPoller: false });
    const { id } = await engine.submit({
      type: 'SLOW',
      payload: { ms: 60_000 },
      timeoutSeconds: 120,
      maxAttempts: 1,
    });
    child = startChild(engine.dbPath);
    await waitForLine(child, `RUNNING ${id} 1`);
    await engine.waitForTask(id, 'RUNNING');

    // act
    await killChild(child);
    engine.startPoller();

    // assess
    const failed = await engine.waitForTask(id, 'FAILED');
    expect(failed.error).toMatchObject({ code: 'WORKER_LOST', retryable: false, attempt: 1 });
    expect(failed.attempts).toBe(1);
    expect(engine.probe.invocationsOf(id)).toBe(0);
    await engine.waitForEmptyQueue();
    const letters = engine.queue.deadLetters(10);
    expect(letters).toHaveLength(1);
    expect(letters[0]!.reason).toMatch(/^WORKER_LOST: /);
  });

  it('ends CANCELLED on the next delivery, without running again, when it was cancelled after the kill', async () => {
    // prepare
    engine = await openEngine({ startPoller: false });
    const { id } = await engine.submit({
      type: 'SLOW',
      payload: { ms: 60_000, secondRunMs: 50 },
      timeoutSeconds: 120,
      maxAttempts: 3,
    });
    child = startChild(engine.dbPath);
    await waitForLine(child, `RUNNING ${id} 1`);
    await engine.waitForTask(id, 'RUNNING');
    await killChild(child);

    // act
    const requested = await engine.cancelTask(id);
    engine.startPoller();

    // assess
    expect(requested).toMatchObject({ status: 'RUNNING', cancelRequested: true, attempts: 1 });
    const cancelled = await engine.waitForTask(id, 'CANCELLED');
    expect(cancelled.attempts).toBe(1);
    expect(engine.probe.invocationsOf(id)).toBe(0);
    await engine.waitForEmptyQueue();
    expect(engine.queue.deadLetters(10)).toHaveLength(0);
  });
});

describe('concurrent deliveries of one task', () => {
  it('run it once: the second delivery cannot claim it or move it backwards', async () => {
    // prepare: two messages for the same task, received together in one batch
    engine = await openEngine({ startPoller: false });
    const { id } = await engine.submit({ type: 'SLOW', payload: { ms: 1500 } });
    await engine.queue.send([{ body: encodeTaskMessage({ taskId: id }) }]);
    expect(engine.queue.depth().visible).toBe(2);

    // act
    engine.startPoller();
    const done = await engine.waitForTask(id, 'SUCCEEDED');
    await engine.waitForEmptyQueue();

    // assess
    expect(engine.probe.invocationsOf(id)).toBe(1);
    expect(done.attempts).toBe(1);
    expect(await engine.task(id)).toEqual(done);
    await engine.waitForUpdate(id, 'SUCCEEDED');
    const updates = engine.updatesFor(id);
    expect(updates.filter((u) => u.status === 'RUNNING').every((u) => u.attempts === 1)).toBe(true);
    expect(updates.map((u) => u.status).filter((s, i, all) => s !== all[i - 1])).toEqual([
      'QUEUED',
      'RUNNING',
      'SUCCEEDED',
    ]);
  });
});
