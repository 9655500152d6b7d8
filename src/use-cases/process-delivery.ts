import { backoffSeconds } from '../domain/backoff.ts';
import {
  ConditionFailedError,
  ConfigurationError,
  PermanentTaskError,
  ValidationError,
  coerceError,
  isErrorNamed,
} from '../domain/errors.ts';
import { LIMITS } from '../domain/limits.ts';
import { decodeTaskMessage, isoFromMillis, type Task, type TaskError } from '../domain/task.ts';
import { TaskStatus, isFinal } from '../domain/task-status.ts';
import type { Logger, TaskContext } from '../domain/task-type.ts';
import type { TaskTypeRegistry } from '../domain/task-type-registry.ts';
import type { Clock } from '../ports/clock.ts';
import type { BlobStore } from '../ports/blob-store.ts';
import type { MessageControl, ReceivedMessage } from '../ports/task-queue.ts';
import type { TaskPatch, TaskStore, UpdateCondition } from '../ports/task-store.ts';
import { watchAttempt } from './attempt-watch.ts';
import { expiryFor } from './retention.ts';

export interface ProcessDeliveryConfig {
  /** The queue's visibility timeout: how long a receive hides a message, and so a worker's lease. */
  visibilityTimeoutSeconds: number;
  retentionSeconds: number;
  backoff: { baseSeconds: number; maxSeconds: number };
  /** At most one progress write per task per this many ms; the latest value always lands. */
  progressThrottleMs: number;
  /** How often a running task checks whether it was cancelled. */
  cancelCheckMs: number;
}

export interface ProcessDeliveryDeps {
  store: TaskStore;
  /** The blob store handlers read inputs from and write outputs to. */
  blobs?: BlobStore;
  messages: MessageControl;
  registry: TaskTypeRegistry;
  clock: Clock;
  logger: Logger;
  config: ProcessDeliveryConfig;
  random?: () => number;
}

/** What the caller does with the message: delete it, or leave it (its visibility already set). */
export type DeliveryOutcome = { kind: 'ack' } | { kind: 'later'; afterSeconds: number };

const ACK: DeliveryOutcome = { kind: 'ack' };

const unconfigured = (): never => {
  throw new ConfigurationError(
    'This processor has no blob store configured; task types that use blobs cannot run.',
  );
};
/** Stands in when a processor is built without a blob store: any use fails loudly. */
const NO_BLOB_STORE: BlobStore = {
  read: unconfigured,
  write: unconfigured,
  head: unconfigured,
  uploadUrl: unconfigured,
  downloadUrl: unconfigured,
};

class AttemptStopped extends Error {
  readonly why: 'timeout' | 'cancel';
  constructor(why: 'timeout' | 'cancel') {
    super(why === 'timeout' ? 'attempt timed out' : 'task cancelled');
    this.why = why;
  }
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * Runs one delivery of a task message: decides from the stored task whether this delivery should
 * run it (at-least-once delivery means duplicates and stale messages arrive), claims it with a
 * conditional write, runs the handler under a lease, timeout and cancellation, and records the
 * outcome. Every write is conditioned on the attempt it belongs to, so a worker that lost its lease
 * can never overwrite the newer attempt's state.
 */
export function makeProcessDelivery(deps: ProcessDeliveryDeps) {
  const random = deps.random ?? Math.random;
  const { config } = deps;

  async function later(message: ReceivedMessage, seconds: number): Promise<DeliveryOutcome> {
    const afterSeconds = Math.min(43_200, Math.max(1, Math.ceil(seconds)));
    await deps.messages.changeVisibility(message.receiptHandle, afterSeconds);
    return { kind: 'later', afterSeconds };
  }

  async function fail(
    task: Task,
    error: TaskError,
    message: ReceivedMessage,
    condition: UpdateCondition,
    extra: TaskPatch = {},
  ) {
    const nowMs = deps.clock.now();
    const failed = await deps.store.update(
      task.id,
      {
        ...extra,
        status: TaskStatus.FAILED,
        error,
        finishedAt: isoFromMillis(nowMs),
        leaseExpiresAt: null,
        expiresAt: expiryFor(nowMs, config.retentionSeconds),
      },
      condition,
      isoFromMillis(nowMs),
    );
    // The store is the truth; the dead-letter message is the queue-side record of it. A crash
    // between the two leaves a FAILED task without one, never a dead letter for a live task.
    await deps.messages.sendToDeadLetter(message.body, `${error.code}: ${error.message}`);
    deps.logger.info('task FAILED', { taskId: task.id, code: error.code, attempt: error.attempt });
    return failed;
  }

  return async function processDelivery(message: ReceivedMessage): Promise<DeliveryOutcome> {
    const decoded = decodeTaskMessage(message.body);
    if ('invalid' in decoded) {
      deps.logger.error('poison message dead-lettered', {
        messageId: message.messageId,
        reason: decoded.invalid,
      });
      await deps.messages.sendToDeadLetter(message.body, `POISON_MESSAGE: ${decoded.invalid}`);
      return ACK;
    }
    const task = await deps.store.get(decoded.taskId);
    const log = deps.logger.child({ taskId: decoded.taskId, messageId: message.messageId });
    if (!task) {
      log.warn('message for a task that does not exist (expired or never stored); dropped');
      return ACK;
    }
    if (isFinal(task.status)) {
      log.debug('duplicate delivery of a finished task; dropped', { status: task.status });
      return ACK;
    }
    const nowMs = deps.clock.now();
    if (task.status === TaskStatus.RUNNING) {
      const leaseEnd = task.leaseExpiresAt ? Date.parse(task.leaseExpiresAt) : 0;
      if (leaseEnd > nowMs) {
        // Another worker holds it. Come back when its lease would have run out, in case it dies.
        return later(message, (leaseEnd - nowMs) / 1000 + 1);
      }
      if (task.cancelRequested) {
        await deps.store.update(
          task.id,
          {
            status: TaskStatus.CANCELLED,
            finishedAt: isoFromMillis(nowMs),
            leaseExpiresAt: null,
            expiresAt: expiryFor(nowMs, config.retentionSeconds),
          },
          { version: task.version },
          isoFromMillis(nowMs),
        );
        return ACK;
      }
      if (task.attempts >= task.maxAttempts) {
        await fail(
          task,
          {
            code: 'WORKER_LOST',
            message: `the worker running attempt ${task.attempts} stopped without finishing, and no attempts are left`,
            retryable: false,
            attempt: task.attempts,
          },
          message,
          { statusIn: [TaskStatus.RUNNING], attempts: task.attempts },
        );
        return ACK;
      }
      log.warn('lease expired: the previous worker is gone; running again', { attempt: task.attempts });
    } else if (Date.parse(task.runAt) > nowMs) {
      return later(message, (Date.parse(task.runAt) - nowMs) / 1000);
    }

    const attempt = task.attempts + 1;
    let running: Task;
    try {
      running = await deps.store.update(
        task.id,
        {
          status: TaskStatus.RUNNING,
          attempts: attempt,
          startedAt: isoFromMillis(nowMs),
          leaseExpiresAt: isoFromMillis(nowMs + config.visibilityTimeoutSeconds * 1000),
          progress: null,
          progressMessage: null,
        },
        { version: task.version },
        isoFromMillis(nowMs),
      );
    } catch (error) {
      if (isErrorNamed(error, ConditionFailedError)) return later(message, 1);
      throw error;
    }
    log.debug('task RUNNING', { attempt });
    return runAttempt(running, attempt, message, log);
  };

  async function runAttempt(task: Task, attempt: number, message: ReceivedMessage, log: Logger) {
    const mine = { statusIn: [TaskStatus.RUNNING], attempts: attempt } as const;
    const write = (patch: TaskPatch) =>
      deps.store.update(task.id, patch, mine, isoFromMillis(deps.clock.now()));
    const controller = new AbortController();
    let stopped: AttemptStopped | undefined;
    let stop!: (reason: AttemptStopped) => void;
    const stoppedPromise = new Promise<never>((_, reject) => {
      stop = (reason) => {
        if (stopped) return;
        stopped = reason;
        controller.abort(reason);
        reject(reason);
      };
    });
    stoppedPromise.catch(() => undefined);

    const unwatch = watchAttempt({
      timeoutMs: task.timeoutSeconds * 1000,
      cancelCheckEveryMs: config.cancelCheckMs,
      // Renew the lease (message visibility and the task's leaseExpiresAt) well before it runs out.
      renewEveryMs: (config.visibilityTimeoutSeconds * 1000) / 3,
      onTimeout: () => stop(new AttemptStopped('timeout')),
      onCancelCheck: () => {
        deps.store.get(task.id).then(
          (current) => {
            if (current?.cancelRequested) stop(new AttemptStopped('cancel'));
          },
          (error: unknown) => log.warn('cancel check failed', { error: String(error) }),
        );
      },
      onRenewal: () => {
        const until = deps.clock.now() + config.visibilityTimeoutSeconds * 1000;
        Promise.all([
          deps.messages.changeVisibility(message.receiptHandle, config.visibilityTimeoutSeconds),
          write({ leaseExpiresAt: isoFromMillis(until) }),
        ]).catch((error: unknown) => log.warn('lease renewal failed', { error: String(error) }));
      },
    });

    let lastProgressWrite = 0;
    let pendingProgress: { fraction: number; message: string | null } | undefined;
    let progressTimer: NodeJS.Timeout | undefined;
    const flushProgress = () => {
      progressTimer = undefined;
      if (!pendingProgress || stopped) return;
      const { fraction, message: text } = pendingProgress;
      pendingProgress = undefined;
      lastProgressWrite = deps.clock.now();
      write({ progress: fraction, progressMessage: text }).catch((error: unknown) => {
        if (!isErrorNamed(error, ConditionFailedError))
          log.warn('progress write failed', { error: String(error) });
      });
    };
    const context: TaskContext = {
      blobs: deps.blobs ?? NO_BLOB_STORE,
      outputPrefix: `outputs/${task.id}/`,
      taskId: task.id,
      attempt,
      maxAttempts: task.maxAttempts,
      signal: controller.signal,
      logger: log,
      progress(fraction, text) {
        if (typeof fraction !== 'number' || !Number.isFinite(fraction)) {
          throw new TypeError(`progress must be a finite number from 0 to 1, got ${String(fraction)}`);
        }
        pendingProgress = {
          fraction: Math.min(1, Math.max(0, fraction)),
          message: text === undefined ? null : clip(String(text), LIMITS.progressMessageMaxLength),
        };
        if (progressTimer) return;
        const wait = lastProgressWrite + config.progressThrottleMs - deps.clock.now();
        if (wait <= 0) flushProgress();
        else progressTimer = setTimeout(flushProgress, wait);
      },
    };

    let outcome: { ok: true; value: unknown } | { ok: false; error: unknown };
    try {
      const definition = deps.registry.get(task.type);
      if (!definition) throw new PermanentTaskError(`no handler is registered for task type ${task.type}`);
      let payload: unknown;
      try {
        payload = deps.registry.parsePayload(task.type, JSON.parse(task.payload));
      } catch (error) {
        throw new PermanentTaskError(`payload is no longer valid: ${coerceError(error).message}`, {
          code: 'INVALID_INPUT',
          cause: error,
        });
      }
      const value = await Promise.race([
        Promise.resolve(definition.handler(payload, context)),
        stoppedPromise,
      ]);
      outcome = { ok: true, value };
    } catch (error) {
      outcome = { ok: false, error };
    } finally {
      unwatch();
      if (progressTimer) clearTimeout(progressTimer);
    }

    const nowMs = deps.clock.now();
    const now = isoFromMillis(nowMs);
    // The last progress a handler reported is kept even when the attempt does not succeed.
    const lastProgress: TaskPatch = pendingProgress
      ? { progress: pendingProgress.fraction, progressMessage: pendingProgress.message }
      : {};
    const cancel = async () => {
      await write({
        ...lastProgress,
        status: TaskStatus.CANCELLED,
        finishedAt: now,
        leaseExpiresAt: null,
        expiresAt: expiryFor(nowMs, config.retentionSeconds),
      });
      log.info('task CANCELLED', { attempt });
      return ACK;
    };
    /**
     * Ends the attempt with `end`, unless a cancel came in since the last check: every final write
     * is conditioned on cancelRequested being false, and a cancel, once accepted, always wins.
     */
    const finish = async (end: () => Promise<DeliveryOutcome>): Promise<DeliveryOutcome> => {
      try {
        return await end();
      } catch (error) {
        const current = isErrorNamed(error, ConditionFailedError) ? await deps.store.get(task.id) : null;
        if (
          current?.status === TaskStatus.RUNNING &&
          current.attempts === attempt &&
          current.cancelRequested
        ) {
          return cancel();
        }
        throw error;
      }
    };
    const notCancelled: UpdateCondition = { ...mine, cancelRequested: false };
    try {
      if (stopped?.why === 'cancel') return await cancel();
      if (outcome.ok) {
        const result = outcome.value === undefined ? 'null' : JSON.stringify(outcome.value);
        const size = Buffer.byteLength(result);
        if (size > LIMITS.maxResultBytes) {
          outcome = {
            ok: false,
            error: new PermanentTaskError(
              `the result is ${size} bytes, over the limit of ${LIMITS.maxResultBytes}; write large outputs to the blob store`,
              { code: 'RESULT_TOO_LARGE' },
            ),
          };
        } else {
          return await finish(async () => {
            await deps.store.update(
              task.id,
              {
                status: TaskStatus.SUCCEEDED,
                result,
                resultSize: size,
                progress: 1,
                finishedAt: now,
                leaseExpiresAt: null,
                expiresAt: expiryFor(nowMs, config.retentionSeconds),
              },
              notCancelled,
              now,
            );
            log.debug('task SUCCEEDED', { attempt });
            return ACK;
          });
        }
      }
      const error = outcome.error;
      const permanent = isErrorNamed(error, PermanentTaskError) || isErrorNamed(error, ValidationError);
      const taskError: TaskError =
        error instanceof AttemptStopped
          ? {
              code: 'TIMEOUT',
              message: `attempt ${attempt} ran past its timeout of ${task.timeoutSeconds} s`,
              retryable: true,
              attempt,
            }
          : {
              code: permanent ? ((error as PermanentTaskError).code ?? 'PERMANENT_ERROR') : 'HANDLER_ERROR',
              message: clip(coerceError(error).message || 'handler failed', LIMITS.errorMessageMaxLength),
              retryable: !permanent,
              attempt,
            };
      if (!taskError.retryable || attempt >= task.maxAttempts) {
        return await finish(async () => {
          await fail({ ...task, status: TaskStatus.RUNNING }, taskError, message, notCancelled, lastProgress);
          return ACK;
        });
      }
      const delay = backoffSeconds(attempt, config.backoff, random);
      return await finish(async () => {
        await deps.store.update(
          task.id,
          {
            ...lastProgress,
            status: TaskStatus.RETRYING,
            error: taskError,
            runAt: isoFromMillis(nowMs + delay * 1000),
            leaseExpiresAt: null,
          },
          notCancelled,
          now,
        );
        log.info('task RETRYING', { attempt, code: taskError.code, inSeconds: Math.round(delay * 10) / 10 });
        return later(message, delay);
      });
    } catch (error) {
      if (isErrorNamed(error, ConditionFailedError)) {
        // Someone else owns the task now (our lease ran out). Leave the message for whoever
        // comes after; the stored state decides what that delivery does.
        log.warn('lost the task to a newer attempt; result discarded', { attempt });
        return later(message, config.visibilityTimeoutSeconds);
      }
      throw error;
    }
  }
}
