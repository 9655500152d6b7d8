import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openEngine, waitFor, type Engine } from '../helpers/engine-harness.ts';

let engine: Engine;

beforeEach(async () => {
  engine = await openEngine();
});

afterEach(async () => {
  await engine.close();
});

describe('cancelTask', () => {
  it('cancels a QUEUED task at once, and its later delivery leaves it CANCELLED without running it', async () => {
    // prepare
    const { id } = await engine.submit({ type: 'NOOP', payload: {}, delaySeconds: 1 });

    // act
    const cancelled = await engine.cancelTask(id);

    // assess
    expect(cancelled.status).toBe('CANCELLED');
    expect(cancelled.finishedAt).not.toBeNull();
    expect(cancelled.expiresAt).not.toBeNull();
    await engine.waitForEmptyQueue();
    const after = await engine.task(id);
    expect(after).toEqual(cancelled);
    expect(engine.probe.invocationsOf(id)).toBe(0);
    await engine.waitForUpdate(id, 'CANCELLED');
    expect(engine.updatesFor(id).map((u) => u.status)).toEqual(['QUEUED', 'CANCELLED']);
  });

  it('asks a RUNNING task to stop: its signal fires and it ends CANCELLED', async () => {
    // prepare
    const { id } = await engine.submit({ type: 'SLOW', payload: { ms: 20_000 }, timeoutSeconds: 60 });
    await engine.waitForTask(id, 'RUNNING');

    // act
    const requested = await engine.cancelTask(id);

    // assess
    expect(requested).toMatchObject({ status: 'RUNNING', cancelRequested: true });
    const cancelled = await engine.waitForTask(id, 'CANCELLED');
    expect(engine.probe.abortReasons.get(id)).toMatchObject({ why: 'cancel' });
    expect(cancelled).toMatchObject({ attempts: 1, error: null, leaseExpiresAt: null });
    expect(cancelled.result).toBeNull();
    expect(cancelled.expiresAt).not.toBeNull();
    await engine.waitForEmptyQueue();
    expect(engine.queue.deadLetters(10)).toHaveLength(0);
  });

  it('is seen by a RUNNING task after many check periods, not only by the first check', async () => {
    // prepare: the harness checks every 50 ms; let a dozen periods pass before cancelling.
    const { id } = await engine.submit({ type: 'SLOW', payload: { ms: 20_000 }, timeoutSeconds: 60 });
    await engine.waitForTask(id, 'RUNNING');
    await new Promise((resolve) => setTimeout(resolve, 600));

    // act
    await engine.cancelTask(id);

    // assess
    const cancelled = await engine.waitForTask(id, 'CANCELLED');
    expect(engine.probe.abortReasons.get(id)).toMatchObject({ why: 'cancel' });
    expect(cancelled.attempts).toBe(1);
    await engine.waitForEmptyQueue();
  });

  it('of a RUNNING task whose attempt then fails ends CANCELLED and does not run it again', async () => {
    // prepare: the handler waits at a gate, then throws a retryable error on every attempt
    const { id } = await engine.submit({ type: 'GATED', payload: {}, maxAttempts: 3 });
    await engine.waitForTask(id, 'RUNNING');
    await waitFor(() => engine.probe.invocationsOf(id) === 1, { what: 'the handler to start' });

    // act: the cancel is accepted, then the attempt fails before the next cancel check
    const requested = await engine.cancelTask(id);
    engine.probe.openGate(id);

    // assess
    expect(requested).toMatchObject({ status: 'RUNNING', cancelRequested: true });
    const final = await waitFor(
      async () => {
        const task = await engine.task(id);
        return ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(task.status) ? task : null;
      },
      { what: 'the task to finish' },
    );
    expect(final.status).toBe('CANCELLED');
    expect(engine.probe.invocationsOf(id)).toBe(1);
    await engine.waitForEmptyQueue();
  });

  it('of a SUCCEEDED task is an InvalidTransitionError and changes nothing', async () => {
    // prepare
    const { id } = await engine.submit({ type: 'NOOP', payload: {} });
    const done = await engine.waitForTask(id, 'SUCCEEDED');

    // act
    const attempt = engine.cancelTask(id);

    // assess
    await expect(attempt).rejects.toMatchObject({ name: 'InvalidTransitionError' });
    expect(await engine.task(id)).toEqual(done);
  });

  it('of an unknown id is a NotFoundError', async () => {
    // act
    const attempt = engine.cancelTask('no-such-task');

    // assess
    await expect(attempt).rejects.toMatchObject({ name: 'NotFoundError' });
  });
});

describe('retryTask', () => {
  it('of a SUCCEEDED task is an InvalidTransitionError', async () => {
    // prepare
    const { id } = await engine.submit({ type: 'NOOP', payload: {} });
    const done = await engine.waitForTask(id, 'SUCCEEDED');

    // act
    const attempt = engine.retryTask(id);

    // assess
    await expect(attempt).rejects.toMatchObject({ name: 'InvalidTransitionError' });
    expect(await engine.task(id)).toEqual(done);
  });

  it('of a QUEUED task is an InvalidTransitionError', async () => {
    // prepare
    const queued = await engine.submit({ type: 'NOOP', payload: {}, delaySeconds: 60 });

    // act
    const attempt = engine.retryTask(queued.id);

    // assess
    await expect(attempt).rejects.toMatchObject({ name: 'InvalidTransitionError' });
    expect(await engine.task(queued.id)).toEqual(queued);
  });

  it('whose message cannot be written leaves the task as it was, and no message (one transaction)', async () => {
    // prepare: a CANCELLED task, and a queue whose inserts fail (as on a full disk)
    const { id } = await engine.submit({ type: 'NOOP', payload: {}, delaySeconds: 60 });
    const cancelled = await engine.cancelTask(id);
    const before = engine.queue.depth();
    engine.db.db.exec(
      "CREATE TRIGGER queue_full BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END",
    );

    // act
    const attempt = engine.retryTask(id);

    // assess
    try {
      await expect(attempt).rejects.toThrow('database or disk is full');
      expect(await engine.task(id)).toEqual(cancelled);
      expect(engine.queue.depth()).toEqual(before);
    } finally {
      engine.db.db.exec('DROP TRIGGER queue_full');
    }
    await engine.retryTask(id);
    expect((await engine.waitForTask(id, 'SUCCEEDED')).attempts).toBe(1);
  });

  it('of a CANCELLED task queues it again and it runs', async () => {
    // prepare
    const { id } = await engine.submit({ type: 'NOOP', payload: {}, delaySeconds: 60 });
    await engine.cancelTask(id);

    // act
    const requeued = await engine.retryTask(id);

    // assess
    expect(requeued).toMatchObject({ status: 'QUEUED', attempts: 0, finishedAt: null, expiresAt: null });
    const done = await engine.waitForTask(id, 'SUCCEEDED');
    expect(done.attempts).toBe(1);
  });
});
