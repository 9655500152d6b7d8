import { describe, expect, it } from 'vitest';
import { backoffSeconds } from '../../src/domain/backoff.ts';
import { ConfigurationError, InvalidTransitionError, ValidationError } from '../../src/domain/errors.ts';
import { decodeTaskMessage, encodeTaskMessage, isoFromMillis } from '../../src/domain/task.ts';
import {
  ALL_STATUSES,
  FINAL_STATUSES,
  LIVE_STATUSES,
  assertTransition,
  canTransition,
  isFinal,
  isTaskStatus,
  statusesLeadingTo,
  type TaskStatus,
} from '../../src/domain/task-status.ts';
import { TaskTypeRegistry } from '../../src/domain/task-type-registry.ts';
import { defineTaskType } from '../../src/domain/task-type.ts';
import { BUILT_IN_TASK_TYPES } from '../../src/task-types/built-in.ts';
import { imageResizePayloadSchema } from '../../src/task-types/image-resize.ts';
import { sendEmailPayloadSchema } from '../../src/task-types/send-email.ts';
import { LOCAL_SETTINGS, loadLocalConfig } from '../../src/config/local-config.ts';
import { z } from 'zod';

/** Thrown value of `fn`, or a failure when it does not throw. */
function thrownBy(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

describe('task status transitions', () => {
  const allowed: Record<TaskStatus, TaskStatus[]> = {
    QUEUED: ['RUNNING', 'CANCELLED'],
    RUNNING: ['RUNNING', 'SUCCEEDED', 'RETRYING', 'FAILED', 'CANCELLED'],
    RETRYING: ['RUNNING', 'CANCELLED'],
    SUCCEEDED: [],
    FAILED: ['QUEUED'],
    CANCELLED: ['QUEUED'],
  };
  const pairs = ALL_STATUSES.flatMap((from) => ALL_STATUSES.map((to) => [from, to] as const));

  it.each(pairs.filter(([from, to]) => allowed[from].includes(to)))('allows %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
    expect(() => assertTransition('t-1', from, to, 'move')).not.toThrow();
  });

  it.each(pairs.filter(([from, to]) => !allowed[from].includes(to)))('forbids %s → %s', (from, to) => {
    const error = thrownBy(() => assertTransition('t-1', from, to, 'move'));

    expect(canTransition(from, to)).toBe(false);
    expect(error).toBeInstanceOf(InvalidTransitionError);
    expect(error.message).toBe(`Cannot move task t-1: it is ${from}.`);
  });

  it('lets a final status go nowhere but FAILED or CANCELLED → QUEUED', () => {
    const exits = FINAL_STATUSES.flatMap((from) =>
      ALL_STATUSES.filter((to) => canTransition(from, to)).map((to) => `${from}→${to}`),
    );

    expect(exits).toEqual(['FAILED→QUEUED', 'CANCELLED→QUEUED']);
  });

  it('names the statuses that lead to each status', () => {
    expect(statusesLeadingTo('QUEUED')).toEqual(['FAILED', 'CANCELLED']);
    expect(statusesLeadingTo('RUNNING')).toEqual(['QUEUED', 'RUNNING', 'RETRYING']);
    expect(statusesLeadingTo('CANCELLED')).toEqual(['QUEUED', 'RUNNING', 'RETRYING']);
    expect(statusesLeadingTo('SUCCEEDED')).toEqual(['RUNNING']);
  });

  it('splits the statuses into live and final ones without overlap', () => {
    expect([...LIVE_STATUSES, ...FINAL_STATUSES].sort()).toEqual([...ALL_STATUSES].sort());
    expect(ALL_STATUSES.filter(isFinal)).toEqual(['SUCCEEDED', 'FAILED', 'CANCELLED']);
  });

  it('recognises status strings and nothing else', () => {
    expect(ALL_STATUSES.every(isTaskStatus)).toBe(true);
    expect(['queued', '', 'DONE', null, 1, undefined].some(isTaskStatus)).toBe(false);
  });
});

describe('backoffSeconds', () => {
  const policy = { baseSeconds: 2, maxSeconds: 900 };
  const low = (attempt: number, p = policy) => backoffSeconds(attempt, p, () => 0);
  const high = (attempt: number, p = policy) => backoffSeconds(attempt, p, () => 0.999);

  it('stays within [floor, base × 2^(attempt-1)] for each attempt', () => {
    for (let attempt = 1; attempt <= 20; attempt += 1) {
      const ceiling = Math.min(900, 2 * 2 ** (attempt - 1));

      expect(low(attempt)).toBe(1);
      expect(high(attempt)).toBeGreaterThan(1);
      expect(high(attempt)).toBeLessThanOrEqual(ceiling);
      expect(high(attempt)).toBeGreaterThan(ceiling * 0.99);
    }
  });

  it('roughly doubles the upper end with each attempt until the cap', () => {
    const tops = [1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => high(attempt));

    for (let i = 1; i < tops.length; i += 1) {
      expect(tops[i]! / tops[i - 1]!).toBeGreaterThan(1.9);
      expect(tops[i]! / tops[i - 1]!).toBeLessThan(2.5);
    }
  });

  it('never exceeds maxSeconds, however many attempts', () => {
    for (const attempt of [9, 10, 11, 30, 1000, 10_000]) {
      expect(high(attempt)).toBeLessThanOrEqual(900);
      expect(Number.isFinite(high(attempt))).toBe(true);
    }
    expect(high(10_000)).toBeGreaterThan(899);
  });

  it('is never zero, even with a tiny base', () => {
    const tiny = { baseSeconds: 0.01, maxSeconds: 900 };

    expect(low(1, tiny)).toBeGreaterThan(0);
    expect(low(5, tiny)).toBeGreaterThanOrEqual(0.05);
  });

  it('keeps within maxSeconds when the base itself is larger', () => {
    const big = { baseSeconds: 1000, maxSeconds: 900 };

    expect(low(1, big)).toBe(500);
    expect(high(1, big)).toBeLessThanOrEqual(900);
  });
});

describe('decodeTaskMessage', () => {
  it('reads the taskId of a task message and drops other fields', () => {
    expect(decodeTaskMessage('{"taskId":"abc","extra":1}')).toEqual({ taskId: 'abc' });
  });

  it('decodes what encodeTaskMessage encodes', () => {
    expect(decodeTaskMessage(encodeTaskMessage({ taskId: 'task-42' }))).toEqual({ taskId: 'task-42' });
  });

  it('calls a body that is not JSON not JSON', () => {
    expect(decodeTaskMessage('{taskId: abc')).toEqual({ invalid: 'message body is not JSON' });
  });

  it.each(['[1,2]', '42', 'null', '"abc"'])('calls %s not a JSON object', (body) => {
    expect(decodeTaskMessage(body)).toEqual({ invalid: 'message body is not a JSON object' });
  });

  it.each(['{}', '{"taskId":""}', '{"taskId":5}', `{"taskId":"${'x'.repeat(129)}"}`])(
    'finds no taskId in %s',
    (body) => {
      expect(decodeTaskMessage(body)).toEqual({ invalid: 'message body has no taskId string' });
    },
  );
});

describe('isoFromMillis', () => {
  it('writes what toISOString writes, across seconds, years and the edges of its fast path', () => {
    const T = Date.UTC(2026, 10, 28, 3, 0, 0);
    const cases = [
      0,
      1,
      9,
      10,
      99,
      100,
      999,
      1000,
      1001,
      T,
      T + 7,
      T + 42,
      T + 999,
      T + 1000,
      T + 60_000,
      253402300799999,
      253402300800000,
      -1,
      -1000,
      -62198755200000,
      8.64e15,
      1.5,
      T + 0.25,
    ];
    // Random times, each asked twice in a row and out of order.
    for (let i = 0; i < 2000; i++) {
      const ms = T + Math.floor(Math.random() * 86_400_000 * 3);
      cases.push(ms, ms, ms - 1);
    }
    // A processor's pattern: now, a lease end and an expiry, second after second, past the cache's size.
    for (let i = 0; i < 40; i++) {
      const now = T + i * 1000 + (i % 7);
      cases.push(now, now + 30_000, now + 7 * 86_400_000, now, now + 1);
    }
    for (const ms of cases) expect([ms, isoFromMillis(ms)]).toEqual([ms, new Date(ms).toISOString()]);
  });
});

describe('TaskTypeRegistry', () => {
  const echo = defineTaskType({
    name: 'ECHO',
    payloadSchema: z.object({ text: z.string().min(1), times: z.number().int().optional() }),
    defaults: { maxAttempts: 1, timeoutSeconds: 5 },
    handler: (payload) => payload.text,
  });

  it('rejects a type registered twice', () => {
    const error = thrownBy(() => new TaskTypeRegistry([echo, { ...echo }]));

    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toContain('ECHO');
  });

  it('gives ValidationError with paths under the given prefix for a bad payload', () => {
    const registry = new TaskTypeRegistry([echo]);

    const error = thrownBy(() => registry.parsePayload('ECHO', { text: '', times: 1.5 }, 'input.payload'));

    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.path)).toEqual([
      'input.payload.text',
      'input.payload.times',
    ]);
  });

  it('returns the parsed payload when it is valid', () => {
    const registry = new TaskTypeRegistry([echo]);

    expect(registry.parsePayload('ECHO', { text: 'hi' })).toEqual({ text: 'hi' });
  });

  it('gives ValidationError naming the known types for an unknown type', () => {
    const registry = new TaskTypeRegistry([echo]);

    const error = thrownBy(() => registry.require('NOPE', 'input.type'));

    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([
      { path: 'input.type', message: 'unknown task type "NOPE"; known types: ECHO' },
    ]);
  });
});

describe('built-in payload schemas', () => {
  const registry = new TaskTypeRegistry(BUILT_IN_TASK_TYPES);

  function issuesOf(type: string, payload: unknown): Array<{ path: string; message: string }> {
    const error = thrownBy(() => registry.parsePayload(type, payload));
    expect(error).toBeInstanceOf(ValidationError);
    return [...(error as ValidationError).issues];
  }

  it('accepts the seed IMAGE_RESIZE example', () => {
    const payload = { image: 'photo.jpg', size: '800x600' };

    expect(registry.parsePayload('IMAGE_RESIZE', payload)).toEqual(payload);
    expect(imageResizePayloadSchema.safeParse(payload).success).toBe(true);
  });

  it('rejects an IMAGE_RESIZE size of zero width', () => {
    const issues = issuesOf('IMAGE_RESIZE', { image: 'photo.jpg', size: '0x10' });

    expect(issues.map((i) => i.path)).toEqual(['payload.size']);
  });

  it('rejects an IMAGE_RESIZE image key that climbs out with ..', () => {
    const issues = issuesOf('IMAGE_RESIZE', { image: '../x.png', size: '800x600' });

    expect(issues.map((i) => i.path)).toEqual(['payload.image']);
  });

  it('rejects an IMAGE_RESIZE payload with both size and sizes', () => {
    const issues = issuesOf('IMAGE_RESIZE', { image: 'photo.jpg', size: '800x600', sizes: ['10x10'] });

    expect(issues).toEqual([{ path: 'payload', message: 'give exactly one of "size" or "sizes"' }]);
  });

  it('accepts a SEND_EMAIL payload with exactly 50 recipients', () => {
    const to = Array.from({ length: 30 }, (_, i) => `to${i}@example.com`);
    const cc = Array.from({ length: 20 }, (_, i) => `cc${i}@example.com`);

    expect(() => registry.parsePayload('SEND_EMAIL', { to, cc, subject: 'Hi', text: 'Hello' })).not.toThrow();
  });

  it('rejects a SEND_EMAIL address that is not an email address', () => {
    const issues = issuesOf('SEND_EMAIL', { to: 'not-an-address', subject: 'Hi', text: 'Hello' });

    expect(issues).toEqual([{ path: 'payload.to', message: 'must be an email address' }]);
  });

  it('rejects a SEND_EMAIL payload without a body', () => {
    const issues = issuesOf('SEND_EMAIL', { to: 'a@example.com', subject: 'Hi' });

    expect(issues.map((i) => i.message)).toEqual(['give a body: "text", "html" or both']);
  });

  it('rejects a SEND_EMAIL payload with more than 50 recipients across to, cc and bcc', () => {
    const to = Array.from({ length: 30 }, (_, i) => `to${i}@example.com`);
    const bcc = Array.from({ length: 21 }, (_, i) => `bcc${i}@example.com`);

    const result = sendEmailPayloadSchema.safeParse({ to, bcc, subject: 'Hi', text: 'Hello' });

    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.message)).toEqual([
      'at most 50 recipients in to, cc and bcc together',
    ]);
  });
});

describe('loadLocalConfig', () => {
  it('uses the documented defaults when nothing is set', () => {
    const config = loadLocalConfig({});

    expect(config).toEqual({
      PORT: 4000,
      HOST: '127.0.0.1',
      DATA_DIR: './.data',
      API_KEY: '',
      LOG_LEVEL: 'info',
      WORKER_THREADS: 1,
      WORKER_CONCURRENCY: 64,
      BATCH_SIZE: 10,
      VISIBILITY_TIMEOUT_SECONDS: 30,
      MAX_RECEIVE_COUNT: 100,
      RETRY_BASE_SECONDS: 2,
      RETRY_MAX_SECONDS: 900,
      PROGRESS_THROTTLE_MS: 250,
      CANCEL_CHECK_MS: 500,
      RETENTION_DAYS: 7,
      SHUTDOWN_GRACE_SECONDS: 10,
      DURABILITY: 'normal',
      SMTP_URL: '',
      MAIL_FROM: 'task-queue@localhost.localdomain',
    });
    expect(Object.keys(config).sort()).toEqual(Object.keys(LOCAL_SETTINGS).sort());
  });

  it('treats an empty value as unset and reads given values', () => {
    const config = loadLocalConfig({ PORT: '', WORKER_THREADS: '4', DURABILITY: 'full' });

    expect(config.PORT).toBe(4000);
    expect(config.WORKER_THREADS).toBe(4);
    expect(config.DURABILITY).toBe('full');
  });

  it('names every invalid variable and its value', () => {
    const error = thrownBy(() => loadLocalConfig({ PORT: 'http', BATCH_SIZE: '101', API_KEY: 'short' }));

    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toContain('PORT="http"');
    expect(error.message).toContain('BATCH_SIZE="101"');
    expect(error.message).toContain('API_KEY="short"');
    expect(error.message).not.toContain('HOST');
  });
});
