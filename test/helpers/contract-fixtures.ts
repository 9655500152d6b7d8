import { randomUUID } from 'node:crypto';
import type { Logger } from '../../src/domain/task-type.ts';
import type { Task } from '../../src/domain/task.ts';

/** A fixed point in time the tests count from. */
export const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** A complete QUEUED task created at `T0`; override any field. */
export function makeTask(overrides: Partial<Task> = {}): Task {
  const createdAt = overrides.createdAt ?? iso(T0);
  return {
    id: randomUUID(),
    type: 'SEND_EMAIL',
    status: 'QUEUED',
    payload: '{"to":"a@example.com","subject":"Hi","text":"Hello"}',
    result: null,
    resultSize: null,
    error: null,
    progress: null,
    progressMessage: null,
    attempts: 0,
    maxAttempts: 3,
    timeoutSeconds: 60,
    version: 1,
    createdAt,
    updatedAt: createdAt,
    startedAt: null,
    finishedAt: null,
    runAt: createdAt,
    idempotencyKey: null,
    cancelRequested: false,
    leaseExpiresAt: null,
    expiresAt: null,
    ...overrides,
  };
}

/** A clock that moves only when told to. */
export interface ManualClock {
  now(): number;
  advance(ms: number): void;
}

export function manualClock(start = T0): ManualClock {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

/** A logger that records what it is told, so tests stay quiet. */
export function recordingLogger(): Logger & { lines: Array<{ level: string; message: string }> } {
  const lines: Array<{ level: string; message: string }> = [];
  const at =
    (level: string) =>
    (message: string): void => {
      lines.push({ level, message });
    };
  const logger = {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
  };
  return logger;
}
