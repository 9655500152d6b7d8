// Task types made for the engine tests, and the probe through which their handlers report what
// happened to them (how often each ran, when each failure was thrown, whether the signal fired).
// Shared by the in-test harness and the child-process fixture, so it imports nothing from vitest.
import { z } from 'zod';
import { PermanentTaskError } from '../../src/domain/errors.ts';
import { defineTaskType, type TaskContext, type TaskTypeDefinition } from '../../src/domain/task-type.ts';

/** What the test task handlers saw, per task id. One probe per harness. */
export class EngineProbe {
  /** Handler invocations per task id (every attempt counts, across retryTask too). */
  readonly invocations = new Map<string, number>();
  /** Epoch ms at which FLAKY threw each of its failures, per task id. */
  readonly failureTimes = new Map<string, number[]>();
  /** The abort reason of each task whose ctx.signal fired, per task id (latest attempt). */
  readonly abortReasons = new Map<string, unknown>();
  /** How often SLOW called ctx.progress, per task id. */
  readonly progressReports = new Map<string, number>();
  readonly #gates = new Map<string, { opened: Promise<void>; open: () => void }>();
  /** Called when any handler starts (the child fixture prints from it). */
  onStart: ((taskId: string, attempt: number) => void) | undefined;

  started(ctx: TaskContext): void {
    this.invocations.set(ctx.taskId, (this.invocations.get(ctx.taskId) ?? 0) + 1);
    ctx.signal.addEventListener('abort', () => this.abortReasons.set(ctx.taskId, ctx.signal.reason), {
      once: true,
    });
    this.onStart?.(ctx.taskId, ctx.attempt);
  }

  /** The gate GATED waits at; the test opens it with openGate. */
  gate(taskId: string): Promise<void> {
    let gate = this.#gates.get(taskId);
    if (!gate) {
      let open!: () => void;
      const opened = new Promise<void>((resolve) => (open = resolve));
      gate = { opened, open };
      this.#gates.set(taskId, gate);
    }
    return gate.opened;
  }

  /** Lets every present and future GATED attempt of the task go on (and fail). */
  openGate(taskId: string): void {
    void this.gate(taskId);
    this.#gates.get(taskId)!.open();
  }

  invocationsOf(taskId: string): number {
    return this.invocations.get(taskId) ?? 0;
  }
}

const DEFAULTS = { maxAttempts: 3, timeoutSeconds: 30 };

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits `ms`, reporting progress every 10 ms; rejects with the signal's reason when it fires. */
async function slowly(ms: number, ctx: TaskContext, probe: EngineProbe): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    const elapsed = Date.now() - start;
    if (elapsed >= ms) return elapsed;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        ctx.signal.removeEventListener('abort', onAbort);
        resolve();
      }, 10);
      const onAbort = () => {
        clearTimeout(timer);
        reject(ctx.signal.reason);
      };
      ctx.signal.addEventListener('abort', onAbort, { once: true });
    });
    probe.progressReports.set(ctx.taskId, (probe.progressReports.get(ctx.taskId) ?? 0) + 1);
    ctx.progress(Math.min(1, (Date.now() - start) / ms), 'sleeping');
  }
}

/** NOOP, FLAKY, PERMANENT, SLOW, HANG and GATED, all reporting to `probe`. */
export function makeEngineTaskTypes(probe: EngineProbe): TaskTypeDefinition[] {
  const noop = defineTaskType({
    name: 'NOOP',
    payloadSchema: z.object({ value: z.unknown().optional() }),
    defaults: DEFAULTS,
    handler: (payload, ctx) => {
      probe.started(ctx);
      return { echoed: payload.value ?? null };
    },
  });

  /** Throws a plain Error for the first `failures` invocations of a task id, then succeeds. */
  const flaky = defineTaskType({
    name: 'FLAKY',
    payloadSchema: z.object({ failures: z.number().int().min(0) }),
    defaults: DEFAULTS,
    handler: (payload, ctx) => {
      probe.started(ctx);
      const thrown = probe.failureTimes.get(ctx.taskId) ?? [];
      if (thrown.length < payload.failures) {
        probe.failureTimes.set(ctx.taskId, [...thrown, Date.now()]);
        throw new Error(`flaky failure ${thrown.length + 1} of ${payload.failures}`);
      }
      return { succeededOnAttempt: ctx.attempt };
    },
  });

  const permanent = defineTaskType({
    name: 'PERMANENT',
    payloadSchema: z.object({ code: z.string().optional() }),
    defaults: DEFAULTS,
    handler: (payload, ctx) => {
      probe.started(ctx);
      throw new PermanentTaskError('this task can never succeed', { code: payload.code });
    },
  });

  /** Waits `ms` (or `secondRunMs` from the second attempt on), honouring the signal. */
  const slow = defineTaskType({
    name: 'SLOW',
    payloadSchema: z.object({
      ms: z.number().int().min(0),
      secondRunMs: z.number().int().min(0).optional(),
    }),
    defaults: DEFAULTS,
    handler: async (payload, ctx) => {
      probe.started(ctx);
      const ms = ctx.attempt > 1 && payload.secondRunMs !== undefined ? payload.secondRunMs : payload.ms;
      await slowly(ms, ctx, probe);
      return { attempt: ctx.attempt, ms };
    },
  });

  /** Waits `ms` and ignores the signal altogether. */
  const hang = defineTaskType({
    name: 'HANG',
    payloadSchema: z.object({ ms: z.number().int().min(0) }),
    defaults: DEFAULTS,
    handler: async (payload, ctx) => {
      probe.started(ctx);
      await sleep(payload.ms);
      return { hungFor: payload.ms };
    },
  });

  /** Waits until the test opens its gate, then throws a plain (retryable) Error, every attempt. */
  const gated = defineTaskType({
    name: 'GATED',
    payloadSchema: z.object({}),
    defaults: DEFAULTS,
    handler: async (_payload, ctx) => {
      probe.started(ctx);
      await probe.gate(ctx.taskId);
      throw new Error(`failed after the gate opened (attempt ${ctx.attempt})`);
    },
  });

  return [noop, flaky, permanent, slow, hang, gated] as TaskTypeDefinition[];
}
