import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openEngine, type Engine } from '../helpers/engine-harness.ts';

let engine: Engine;

beforeEach(async () => {
  engine = await openEngine();
});

afterEach(async () => {
  await engine.close();
});

describe('a task whose handler throws', () => {
  it('is RETRYING with its error between attempts, after a backoff, and then SUCCEEDS', async () => {
    // prepare
    const { id } = await engine.submit({ type: 'FLAKY', payload: { failures: 2 }, maxAttempts: 3 });

    // act
    const done = await engine.waitForTask(id, 'SUCCEEDED');
    await engine.waitForUpdate(id, 'SUCCEEDED');

    // assess
    expect(done.attempts).toBe(3);
    expect(JSON.parse(done.result!)).toEqual({ succeededOnAttempt: 3 });
    const updates = engine.updatesFor(id);
    expect(updates.map((u) => u.status).filter((s, i, all) => s !== all[i - 1])).toEqual([
      'QUEUED',
      'RUNNING',
      'RETRYING',
      'RUNNING',
      'RETRYING',
      'RUNNING',
      'SUCCEEDED',
    ]);
    const retrying = updates.filter((u) => u.status === 'RETRYING');
    const failureTimes = engine.probe.failureTimes.get(id)!;
    expect(retrying).toHaveLength(2);
    retrying.forEach((update, i) => {
      expect(update.error).toEqual({
        code: 'HANDLER_ERROR',
        message: `flaky failure ${i + 1} of 2`,
        retryable: true,
        attempt: i + 1,
      });
      expect(update.attempts).toBe(i + 1);
      // Backoff: the retry is scheduled after the failure, and the next attempt waits for it.
      expect(Date.parse(update.runAt)).toBeGreaterThan(failureTimes[i]!);
      const nextRun = updates.find((u) => u.status === 'RUNNING' && u.attempts === i + 2)!;
      expect(Date.parse(nextRun.startedAt!)).toBeGreaterThanOrEqual(Date.parse(update.runAt));
    });
  });

  it('FAILS after maxAttempts with a retryable HANDLER_ERROR and a dead letter, and retryTask runs it again', async () => {
    // prepare
    const { id } = await engine.submit({ type: 'FLAKY', payload: { failures: 2 }, maxAttempts: 2 });

    // act
    const failed = await engine.waitForTask(id, 'FAILED');

    // assess
    expect(failed.attempts).toBe(2);
    expect(failed.error).toMatchObject({ code: 'HANDLER_ERROR', retryable: true, attempt: 2 });
    expect(failed.finishedAt).not.toBeNull();
    expect(failed.expiresAt).not.toBeNull();
    await engine.waitForEmptyQueue();
    const letters = engine.queue.deadLetters(10);
    expect(letters).toHaveLength(1);
    expect(JSON.parse(letters[0]!.body)).toEqual({ taskId: id });
    expect(letters[0]!.reason).toMatch(/^HANDLER_ERROR: flaky failure 2 of 2/);

    // act: redrive it; FLAKY has used up its failures for this task id
    const requeued = await engine.retryTask(id);

    // assess
    expect(requeued).toMatchObject({ status: 'QUEUED', attempts: 0, error: null, expiresAt: null });
    const done = await engine.waitForTask(id, 'SUCCEEDED');
    expect(done.attempts).toBe(1);
    expect(done.error).toBeNull();
    expect(engine.probe.invocationsOf(id)).toBe(3);
  });

  it('FAILS at once when it throws PermanentTaskError, keeping the error code', async () => {
    // prepare
    const { id } = await engine.submit({
      type: 'PERMANENT',
      payload: { code: 'INPUT_NOT_FOUND' },
      maxAttempts: 5,
    });

    // act
    const failed = await engine.waitForTask(id, 'FAILED');

    // assess
    expect(failed.attempts).toBe(1);
    expect(failed.error).toEqual({
      code: 'INPUT_NOT_FOUND',
      message: 'this task can never succeed',
      retryable: false,
      attempt: 1,
    });
    expect(engine.probe.invocationsOf(id)).toBe(1);
    await engine.waitForEmptyQueue();
    expect(engine.queue.deadLetters(10).map((l) => l.reason)).toEqual([
      'INPUT_NOT_FOUND: this task can never succeed',
    ]);
  });
});

describe('a task that runs past its timeout', () => {
  it('has its signal aborted and the attempt fails with a retryable TIMEOUT; the next attempt can succeed', async () => {
    // prepare
    const { id } = await engine.submit({
      type: 'SLOW',
      payload: { ms: 5000, secondRunMs: 20 },
      timeoutSeconds: 1,
      maxAttempts: 2,
    });

    // act
    const retrying = await engine.waitForUpdate(id, 'RETRYING');
    const done = await engine.waitForTask(id, 'SUCCEEDED');

    // assess
    expect(retrying.error).toEqual({
      code: 'TIMEOUT',
      message: 'attempt 1 ran past its timeout of 1 s',
      retryable: true,
      attempt: 1,
    });
    expect(engine.probe.abortReasons.has(id)).toBe(true);
    expect(engine.probe.abortReasons.get(id)).toMatchObject({ why: 'timeout' });
    expect(done.attempts).toBe(2);
  });

  it('FAILS with TIMEOUT even when its handler ignores the signal and never returns in time', async () => {
    // prepare
    const { id } = await engine.submit({
      type: 'HANG',
      payload: { ms: 2500 },
      timeoutSeconds: 1,
      maxAttempts: 1,
    });

    // act
    const failed = await engine.waitForTask(id, 'FAILED');

    // assess
    expect(failed.error).toMatchObject({ code: 'TIMEOUT', retryable: true, attempt: 1 });
    expect(failed.attempts).toBe(1);
    expect(engine.probe.abortReasons.has(id)).toBe(true);
    await engine.waitForEmptyQueue();
    expect(engine.queue.deadLetters(10)).toHaveLength(1);
  });
});
