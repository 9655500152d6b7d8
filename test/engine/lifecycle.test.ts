import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeTaskMessage } from '../../src/domain/task.ts';
import { RUN_ORDER, openEngine, waitFor, type Engine } from '../helpers/engine-harness.ts';

let engine: Engine;

beforeEach(async () => {
  engine = await openEngine();
});

afterEach(async () => {
  await engine.close();
});

describe('a task that succeeds', () => {
  it('goes QUEUED → RUNNING → SUCCEEDED and stores its result, attempts, progress and expiry', async () => {
    // prepare
    const submitted = await engine.submit({ type: 'SLOW', payload: { ms: 150 } });
    expect(submitted).toMatchObject({ status: 'QUEUED', attempts: 0, version: 1 });

    // act
    await engine.waitForUpdate(submitted.id, 'SUCCEEDED');

    // assess
    const task = await engine.task(submitted.id);
    expect(task.status).toBe('SUCCEEDED');
    expect(JSON.parse(task.result!)).toEqual({ attempt: 1, ms: 150 });
    expect(task.resultSize).toBe(Buffer.byteLength(task.result!));
    expect(task.attempts).toBe(1);
    expect(task.progress).toBe(1);
    expect(task.error).toBeNull();
    expect(task.leaseExpiresAt).toBeNull();
    expect(task.finishedAt).not.toBeNull();
    expect(Date.parse(task.expiresAt!) - Date.parse(task.finishedAt!)).toBe(
      engine.config.retentionSeconds * 1000,
    );
  });

  it('publishes every change of the task once, in version order, and its status never goes backwards', async () => {
    // prepare
    const { id } = await engine.submit({ type: 'SLOW', payload: { ms: 300 } });

    // act
    await engine.waitForUpdate(id, 'SUCCEEDED');

    // assess
    const updates = engine.updatesFor(id);
    const final = await engine.task(id);
    expect(updates.map((u) => u.version)).toEqual(Array.from({ length: final.version }, (_, i) => i + 1));
    const statuses = updates.map((u) => u.status);
    expect(statuses[0]).toBe('QUEUED');
    expect(statuses[1]).toBe('RUNNING');
    expect(statuses.at(-1)).toBe('SUCCEEDED');
    expect(statuses.slice(1, -1).every((s) => s === 'RUNNING')).toBe(true);
    const ranks = statuses.map((s) => RUN_ORDER[s]!);
    expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
    // The handler reported progress while running, and some of it was published before SUCCEEDED.
    expect(updates.some((u) => u.status === 'RUNNING' && u.progress !== null && u.progress < 1)).toBe(true);
    expect(updates.every((u) => !('payload' in u))).toBe(true);
  });
});

describe('a delayed task', () => {
  it('does not start before the runAt it was given at submit', async () => {
    // prepare
    const submitted = await engine.submit({ type: 'NOOP', payload: {}, delaySeconds: 1 });
    const runAt = Date.parse(submitted.runAt);
    expect(runAt).toBeGreaterThanOrEqual(Date.parse(submitted.createdAt) + 1000);

    // act
    const running = await engine.waitForUpdate(submitted.id, 'RUNNING');
    await engine.waitForUpdate(submitted.id, 'SUCCEEDED');

    // assess
    expect(Date.parse(running.updatedAt)).toBeGreaterThanOrEqual(runAt);
    expect(Date.parse(running.startedAt!)).toBeGreaterThanOrEqual(runAt);
  });

  it('is not started by a message that arrives before its runAt', async () => {
    // prepare
    const submitted = await engine.submit({ type: 'NOOP', payload: {}, delaySeconds: 1 });
    const runAt = Date.parse(submitted.runAt);

    // act: a duplicate message without the delay, delivered at once
    await engine.queue.send([{ body: encodeTaskMessage({ taskId: submitted.id }) }]);
    const running = await engine.waitForUpdate(submitted.id, 'RUNNING');
    await engine.waitForUpdate(submitted.id, 'SUCCEEDED');
    await engine.waitForEmptyQueue();

    // assess
    expect(Date.parse(running.startedAt!)).toBeGreaterThanOrEqual(runAt);
    expect(engine.probe.invocationsOf(submitted.id)).toBe(1);
  });
});

describe('a task that runs longer than the visibility timeout', () => {
  it('keeps its lease by renewing it, and runs once', async () => {
    // prepare
    const { id } = await engine.submit({ type: 'SLOW', payload: { ms: 3000 } });

    // act
    const done = await engine.waitForTask(id, 'SUCCEEDED');
    await engine.waitForUpdate(id, 'SUCCEEDED');

    // assess
    expect(done.attempts).toBe(1);
    expect(engine.probe.invocationsOf(id)).toBe(1);
    const leases = engine
      .updatesFor(id)
      .filter((u) => u.status === 'RUNNING')
      .map((u) => Date.parse(u.leaseExpiresAt!));
    expect(Math.max(...leases)).toBeGreaterThan(leases[0]!);
    // Renewed again and again (every third of the 2 s visibility timeout over a 3 s run), not once.
    expect(new Set(leases).size).toBeGreaterThanOrEqual(3);
    await engine.waitForEmptyQueue();
  });
});

describe('a duplicate delivery', () => {
  it('of a task that already SUCCEEDED is consumed and changes nothing', async () => {
    // prepare
    const { id } = await engine.submit({ type: 'NOOP', payload: { value: 1 } });
    const done = await engine.waitForTask(id, 'SUCCEEDED');
    await engine.waitForEmptyQueue();

    // act
    await engine.queue.send([{ body: encodeTaskMessage({ taskId: id }) }]);
    await engine.waitForEmptyQueue();

    // assess
    const after = await engine.task(id);
    expect(after).toEqual(done);
    expect(engine.probe.invocationsOf(id)).toBe(1);
    expect(engine.queue.depth().dead).toBe(0);
  });
});

describe('progress', () => {
  it('is throttled: fewer writes than reports, at least two, each in 0..1 and never decreasing', async () => {
    // prepare
    const { id } = await engine.submit({ type: 'SLOW', payload: { ms: 500 } });

    // act
    await engine.waitForUpdate(id, 'SUCCEEDED');

    // assess
    const reports = engine.probe.progressReports.get(id) ?? 0;
    const running = engine.updatesFor(id).filter((u) => u.status === 'RUNNING');
    const progress = running.map((u) => u.progress).filter((p): p is number => p !== null);
    const progressWrites = running.filter(
      (u, i) => u.progress !== null && (i === 0 || u.progress !== running[i - 1]!.progress),
    ).length;
    expect(reports).toBeGreaterThan(progressWrites);
    expect(progressWrites).toBeGreaterThanOrEqual(2);
    expect(progressWrites).toBeLessThan(20);
    for (const p of progress) {
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThanOrEqual(1);
    }
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect((await engine.task(id)).progress).toBe(1);
  });
});

describe('poison messages', () => {
  it('are dead-lettered as POISON_MESSAGE and do not stop a task submitted after them', async () => {
    // prepare
    await engine.queue.send([{ body: 'not json' }, { body: '{"foo":1}' }]);

    // act
    const letters = await waitFor(
      () => {
        const dead = engine.queue.deadLetters(10);
        return dead.length >= 2 ? dead : null;
      },
      { what: 'two dead letters' },
    );
    const { id } = await engine.submit({ type: 'NOOP', payload: {} });

    // assess
    expect(letters.map((l) => l.body).sort()).toEqual(['not json', '{"foo":1}']);
    for (const letter of letters) expect(letter.reason).toMatch(/POISON_MESSAGE/);
    await engine.waitForTask(id, 'SUCCEEDED');
    await engine.waitForEmptyQueue();
  });
});
