// The crash-safety harness: runs the local runtime as a child process, submits a seeded mix of
// tasks, SIGKILLs the runtime at seeded random moments and restarts it, then checks that every
// acknowledged task ended final and correct, that nothing was lost or duplicated, that no status
// went backwards on the subscription stream, and that every email was sent exactly once.
// `scripts/chaos.ts` (npm run chaos) runs the full version, test/e2e/chaos.test.ts a small one.
//
// The seed fixes the workload (tasks, payloads, expected results) and the schedule (kill delays,
// submission pauses, cancel delays). It cannot fix the interleaving with the runtime's threads, so
// a rerun with the same seed is the same experiment, not necessarily the same trace.
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Client } from 'graphql-ws';
import { startRuntime, tempDataDir, type RuntimeProcess } from './runtime-process.ts';

export interface ChaosOptions {
  seed: number;
  /** SIGKILLs while tasks are submitted and run. */
  kills: number;
  /** Tasks to submit (each acknowledged exactly once, by idempotency key). */
  tasks: number;
  /** Bytes of the uploaded text the slow WORD_COUNT tasks read (default 3 MB). */
  bigTextBytes?: number;
  /** Random wait after each (re)start before the next SIGKILL, in ms (default [400, 2500]). */
  killDelayMs?: [number, number];
  /** How long the tasks may take to settle after the last kill (default 180 s). */
  settleTimeoutMs?: number;
  /** The data folder; default a fresh temporary one. */
  dataDir?: string;
  /** Remove the data folder when the run found no violation (default true). */
  cleanup?: boolean;
  /**
   * SEND_EMAIL's documented window (send-email.ts): a crash after the outbox file is written and
   * before the sent record is durable sends the email again. With this set, a second .eml whose first
   * copy was written before a kill and whose resend came after it is reported under
   * `emails.inCrashWindow` instead of as a violation. Any other duplicate stays a violation.
   */
  allowEmailCrashWindow?: boolean;
  /** Extra environment for the runtime. */
  env?: Record<string, string>;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface ChaosReport {
  seed: number;
  dataDir: string;
  kills: number;
  restarts: number;
  durationMs: number;
  planned: number;
  acknowledged: number;
  /** Submit requests cut off by a kill (network error) and sent again with the same idempotency keys. */
  submitRequestsLost: number;
  /** Submit requests answered with GraphQL errors (sent again too), with their messages. */
  submitErrors: string[];
  kinds: Record<string, number>;
  finalStatuses: Record<string, number>;
  failedCodes: Record<string, number>;
  /** What the runtime was doing at each kill (queueStats just before it). */
  atKill: Array<{ running: number; waiting: number; submitsInFlight: number }>;
  events: {
    received: number;
    /** Events received again after a restart, identical to one seen before (at-least-once publishing). */
    replayed: number;
    tasksWithFinalEvent: number;
  };
  cancels: { acknowledged: number; refused: number; uncertain: number; notSent: number };
  flaky: { healed: number; sawRetrying: number };
  emails: {
    tasks: number;
    emlFiles: number;
    sentRecords: number;
    leftoverTempFiles: number;
    /** Emails sent twice because a kill landed between the outbox write and the sent record. */
    inCrashWindow: Array<{ taskId: string; files: string[]; kill: number }>;
  };
  /** Error-level lines in the runtime logs (not violations by themselves). */
  runtimeErrorLines: string[];
  violations: string[];
}

type Kind = 'sort' | 'heavy' | 'words' | 'email' | 'missing' | 'flaky' | 'broken' | 'delayed' | 'race';

/** How often each kind is drawn, out of the sum. */
const MIX: ReadonlyArray<[Kind, number]> = [
  ['sort', 40], // PROCESS_DATA, small inline filter + sort: SUCCEEDED
  ['heavy', 6], // PROCESS_DATA, ~5000 inline records sorted on two keys: SUCCEEDED
  ['words', 3], // WORD_COUNT of the uploaded big text (slow): SUCCEEDED
  ['email', 15], // SEND_EMAIL to the outbox: SUCCEEDED, exactly one .eml
  ['missing', 8], // IMAGE_RESIZE of a key that does not exist: FAILED INPUT_NOT_FOUND at once
  ['flaky', 10], // WORD_COUNT whose input is unreadable (ELOOP) until the harness repairs it: retries, then SUCCEEDED
  ['broken', 5], // WORD_COUNT whose input stays unreadable, maxAttempts 3: FAILED HANDLER_ERROR
  ['delayed', 5], // PROCESS_DATA delayed 900 s, then cancelled: CANCELLED
  ['race', 3], // WORD_COUNT of the big text, cancelled at a random moment: CANCELLED, or SUCCEEDED if it finished first
];

type Expectation =
  | { status: 'SUCCEEDED'; result: unknown }
  | { status: 'SUCCEEDED'; email: { to: string } }
  | { status: 'FAILED'; codes: readonly string[] }
  | { status: 'CANCELLED' };

interface Planned {
  n: number;
  key: string;
  kind: Kind;
  input: Record<string, unknown>;
  expect: Expectation;
  /** flaky: the blob key, the text it gets once repaired. */
  flaky?: { key: string; text: string };
  id?: string;
  cancel?: { acknowledged: boolean; refused: boolean; uncertain: boolean; done: boolean };
  healed?: boolean;
}

export interface TaskEvent {
  id: string;
  status: string;
  version: number;
  attempts: number;
  progress: number | null;
  cancelRequested: boolean;
  updatedAt: string;
  result: string | null;
  error: { code: string } | null;
}

interface Stream {
  last: { version: number; status: string } | null;
  seen: Map<number, { fingerprint: string; epoch: number }>;
}

interface StoredTask {
  id: string;
  type: string;
  status: string;
  attempts: number;
  maxAttempts: number;
  version: number;
  idempotencyKey: string | null;
  result: string | null;
  error: { code: string; retryable: boolean } | null;
}

// The status machine as the README and schema.graphql state it, without retryTask (the harness never
// calls it, so FAILED and CANCELLED are as final as SUCCEEDED here).
const NEXT: Readonly<Record<string, readonly string[]>> = {
  QUEUED: ['RUNNING', 'CANCELLED'],
  RUNNING: ['RUNNING', 'SUCCEEDED', 'RETRYING', 'FAILED', 'CANCELLED'],
  RETRYING: ['RUNNING', 'CANCELLED'],
  SUCCEEDED: [],
  FAILED: [],
  CANCELLED: [],
};
const FINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

function reachable(from: string, to: string): boolean {
  const seen = new Set<string>();
  const queue = [...(NEXT[from] ?? [])];
  while (queue.length > 0) {
    const status = queue.shift()!;
    if (status === to) return true;
    if (seen.has(status)) continue;
    seen.add(status);
    queue.push(...(NEXT[status] ?? []));
  }
  return false;
}

/**
 * Checks the subscription stream, event by event, per task. Events may be missed (across a kill), and
 * a change published before a kill and not yet acknowledged is published again after the restart
 * (at least once): an event identical to one already received from an earlier runtime is counted as
 * a replay. Anything else with a version not newer than the last one is a violation, and so is a
 * status change the state machine does not allow (with a gap in versions: one it cannot reach).
 */
export class StreamChecker {
  readonly #streams = new Map<string, Stream>();
  readonly #violation: (text: string) => void;
  received = 0;
  replayed = 0;

  constructor(violation: (text: string) => void) {
    this.#violation = violation;
  }

  /** The newest event received for a task. */
  last(id: string): { version: number; status: string } | null {
    return this.#streams.get(id)?.last ?? null;
  }

  /** `epoch` numbers the runtime process (and so the connection) the event came through. */
  check(event: TaskEvent, epoch: number): void {
    this.received += 1;
    let stream = this.#streams.get(event.id);
    if (!stream) this.#streams.set(event.id, (stream = { last: null, seen: new Map() }));
    const fingerprint = JSON.stringify([
      event.status,
      event.attempts,
      event.progress,
      event.cancelRequested,
      event.updatedAt,
      event.result,
      event.error?.code ?? null,
    ]);
    const last = stream.last;
    if (last && event.version <= last.version) {
      const earlier = stream.seen.get(event.version);
      if (earlier?.fingerprint === fingerprint && earlier.epoch < epoch) {
        this.replayed += 1;
        return;
      }
      const why = !earlier
        ? 'never seen before'
        : earlier.fingerprint !== fingerprint
          ? 'with other contents than the first time'
          : 'twice through one connection';
      this.#violation(
        `task ${event.id}: version ${event.version} (${event.status}) arrived after version ${last.version} (${last.status}), ${why} [runtime #${epoch}]`,
      );
      return;
    }
    if (last) {
      if (FINAL.has(last.status)) {
        this.#violation(
          `task ${event.id}: ${event.status} v${event.version} after final ${last.status} v${last.version}`,
        );
      } else if (event.status !== last.status) {
        const ok =
          event.version === last.version + 1
            ? (NEXT[last.status] ?? []).includes(event.status)
            : reachable(last.status, event.status);
        if (!ok) {
          this.#violation(
            `task ${event.id}: status went ${last.status} v${last.version} → ${event.status} v${event.version}, not an allowed transition`,
          );
        }
      }
    }
    stream.last = { version: event.version, status: event.status };
    stream.seen.set(event.version, { fingerprint, epoch });
  }
}

/** A small seeded PRNG (mulberry32): the same seed gives the same workload and schedule. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const VOCABULARY = [
  'queue',
  'task',
  'lease',
  'retry',
  'crash',
  'restart',
  'commit',
  'status',
  'version',
  'worker',
  'signal',
  'result',
  "don't",
  'k8s',
  'café',
  'naïve',
];

function makeText(random: () => number, bytes: number): string {
  const lines: string[] = [];
  let size = 0;
  while (size < bytes) {
    const count = 1 + Math.floor(random() * 14);
    const words = Array.from({ length: count }, () => VOCABULARY[Math.floor(random() * VOCABULARY.length)]!);
    const line = random() < 0.1 ? words.join(' ').toUpperCase() : words.join(random() < 0.5 ? ' ' : ', ');
    lines.push(line);
    size += Buffer.byteLength(line) + 1;
  }
  return `${lines.join('\n')}\n`;
}

/**
 * WORD_COUNT's documented result, computed here on its own: lines as readline splits them, words as
 * runs of letters, digits and apostrophes, lower-cased; the top words by count, ties by word.
 */
export function expectedWordCount(text: string, top = 10): unknown {
  const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
  const counts = new Map<string, number>();
  let words = 0;
  let characters = 0;
  for (const line of lines) {
    characters += line.length;
    for (const word of line.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? []) {
      words += 1;
      counts.set(word, (counts.get(word) ?? 0) + 1);
    }
  }
  const ranked = [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, top)
    .map(([word, count]) => ({ word, count }));
  return { lines: lines.length, words, characters, distinctWords: counts.size, top: ranked };
}

function shuffled(random: () => number, length: number): number[] {
  const values = Array.from({ length }, (_, i) => i);
  for (let i = length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [values[i], values[j]] = [values[j]!, values[i]!];
  }
  return values;
}

function pickKind(random: () => number): Kind {
  const total = MIX.reduce((sum, [, weight]) => sum + weight, 0);
  let r = random() * total;
  for (const [kind, weight] of MIX) {
    r -= weight;
    if (r < 0) return kind;
  }
  return 'sort';
}

function plan(
  random: () => number,
  count: number,
  bigText: { key: string; expected: unknown },
  seed: number,
): Planned[] {
  const tasks: Planned[] = [];
  for (let n = 0; n < count; n++) {
    const kind = pickKind(random);
    const key = `chaos-${seed}-${n}`;
    // maxAttempts 25 (the most allowed) where the task must succeed: each kill can cost a running
    // task one attempt, and a task whose last attempt dies is FAILED with WORKER_LOST by design.
    switch (kind) {
      case 'sort': {
        const records = shuffled(random, 5 + Math.floor(random() * 60)).map((value) => ({
          n: value,
          g: Math.floor(random() * 4),
        }));
        const expected = records.filter((r) => r.g !== 0).sort((a, b) => b.n - a.n);
        tasks.push({
          n,
          key,
          kind,
          input: {
            type: 'PROCESS_DATA',
            maxAttempts: 25,
            payload: JSON.stringify({
              records,
              operations: [
                { op: 'filter', field: 'g', operator: 'ne', value: 0 },
                { op: 'sort', by: [{ field: 'n', order: 'desc' }] },
              ],
            }),
          },
          expect: { status: 'SUCCEEDED', result: { records: expected, count: expected.length } },
        });
        break;
      }
      case 'heavy': {
        const records = shuffled(random, 5000).map((value) => ({
          n: value,
          s: `k${Math.floor(random() * 500)}`,
        }));
        const expected = [...records]
          .sort((a, b) => (a.s < b.s ? -1 : a.s > b.s ? 1 : b.n - a.n))
          .slice(0, 25);
        tasks.push({
          n,
          key,
          kind,
          input: {
            type: 'PROCESS_DATA',
            maxAttempts: 25,
            payload: JSON.stringify({
              records,
              operations: [
                { op: 'sort', by: [{ field: 's' }, { field: 'n', order: 'desc' }] },
                { op: 'limit', count: 25 },
              ],
            }),
          },
          expect: { status: 'SUCCEEDED', result: { records: expected, count: expected.length } },
        });
        break;
      }
      case 'words':
      case 'race':
        tasks.push({
          n,
          key,
          kind,
          input: {
            type: 'WORD_COUNT',
            maxAttempts: 25,
            timeoutSeconds: 600,
            payload: JSON.stringify({ key: bigText.key }),
          },
          expect:
            kind === 'words' ? { status: 'SUCCEEDED', result: bigText.expected } : { status: 'CANCELLED' },
        });
        break;
      case 'email': {
        const to = `reader-${n}@example.com`;
        tasks.push({
          n,
          key,
          kind,
          input: {
            type: 'SEND_EMAIL',
            maxAttempts: 25,
            payload: JSON.stringify({
              to,
              subject: `chaos ${seed} #${n}`,
              text: `Task ${n} of run ${seed}.`,
            }),
          },
          expect: { status: 'SUCCEEDED', email: { to } },
        });
        break;
      }
      case 'missing':
        tasks.push({
          n,
          key,
          kind,
          input: {
            type: 'IMAGE_RESIZE',
            maxAttempts: 25,
            payload: JSON.stringify({ image: `chaos/missing-${n}.png`, size: '16x16' }),
          },
          expect: { status: 'FAILED', codes: ['INPUT_NOT_FOUND'] },
        });
        break;
      case 'flaky': {
        const text = makeText(random, 200 + Math.floor(random() * 2000));
        const blobKey = `chaos/flaky-${n}.txt`;
        tasks.push({
          n,
          key,
          kind,
          input: { type: 'WORD_COUNT', maxAttempts: 25, payload: JSON.stringify({ key: blobKey, top: 5 }) },
          expect: { status: 'SUCCEEDED', result: expectedWordCount(text, 5) },
          flaky: { key: blobKey, text },
        });
        break;
      }
      case 'broken':
        // Fails on every attempt with a retryable error; a kill during its last attempt makes it
        // WORKER_LOST instead, which is the documented outcome of that.
        tasks.push({
          n,
          key,
          kind,
          input: {
            type: 'WORD_COUNT',
            maxAttempts: 3,
            payload: JSON.stringify({ key: `chaos/broken-${n}.txt` }),
          },
          expect: { status: 'FAILED', codes: ['HANDLER_ERROR', 'WORKER_LOST'] },
        });
        break;
      case 'delayed':
        tasks.push({
          n,
          key,
          kind,
          input: {
            type: 'PROCESS_DATA',
            delaySeconds: 900,
            payload: JSON.stringify({ records: [{ n }] }),
          },
          expect: { status: 'CANCELLED' },
        });
        break;
    }
  }
  return tasks;
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

const EVENT_FIELDS = 'id status version attempts progress cancelRequested updatedAt result error { code }';
const TASK_FIELDS =
  'id type status attempts maxAttempts version idempotencyKey result error { code retryable }';

type CallResult<T> =
  { ok: true; data: T } | { ok: false; network: boolean; message: string; errorType?: string };

/** Runs the experiment; never throws for a violation (they are in the report). */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const log = options.log ?? (() => undefined);
  const random = seededRandom(options.seed);
  const dataDir = options.dataDir ?? tempDataDir();
  const [minKillDelay, maxKillDelay] = options.killDelayMs ?? [400, 2500];
  const env = {
    WORKER_THREADS: '2',
    RETRY_BASE_SECONDS: '0.1',
    RETRY_MAX_SECONDS: '0.5',
    LOG_LEVEL: 'warn',
    ...options.env,
  };
  const violations: string[] = [];
  const violation = (text: string) => {
    violations.push(text);
    log(`VIOLATION: ${text}`);
  };

  const bigTextKey = 'chaos/big.txt';
  const bigText = makeText(random, options.bigTextBytes ?? 3_000_000);
  const bigTextExpected = expectedWordCount(bigText);
  const tasks = plan(random, options.tasks, { key: bigTextKey, expected: bigTextExpected }, options.seed);
  // Separate streams, so the kill schedule does not depend on how the submitters interleave.
  const killRandom = seededRandom(options.seed ^ 0x4b494c4c);
  const paceRandom = seededRandom(options.seed ^ 0x50414345);
  const cancelRandom = seededRandom(options.seed ^ 0x43414e43);
  const byId = new Map<string, Planned>();
  const kinds: Record<string, number> = {};
  for (const task of tasks) bump(kinds, task.kind);

  // Inputs on disk, where FsBlobStore keeps blobs (DATA_DIR/blobs/<key>). An unreadable input is a
  // symbolic link to itself: looking it up fails with ELOOP, an I/O error the blob store passes on
  // (it is not "not found"), so the handler's attempt fails with a retryable HANDLER_ERROR. A flaky
  // input is repaired later by swapping the link, atomically (rename), for one to the real text.
  const blobs = join(dataDir, 'blobs');
  const fixtures = join(dataDir, 'chaos-fixtures');
  mkdirSync(join(blobs, 'chaos'), { recursive: true });
  mkdirSync(fixtures, { recursive: true });
  writeFileSync(join(blobs, bigTextKey), bigText);
  for (const task of tasks) {
    if (task.kind === 'broken')
      symlinkSync(`broken-${task.n}.txt`, join(blobs, `chaos/broken-${task.n}.txt`));
    if (task.flaky) symlinkSync(`flaky-${task.n}.txt`, join(blobs, task.flaky.key));
  }
  const heal = (task: Planned) => {
    if (!task.flaky || task.healed) return;
    task.healed = true;
    const file = join(fixtures, `flaky-${task.n}.txt`);
    writeFileSync(file, task.flaky.text);
    const link = join(fixtures, `link-${task.n}`);
    symlinkSync(file, link);
    renameSync(link, join(blobs, task.flaky.key));
  };

  // --- The runtime, its epochs (one per process) and the subscription of each. ---
  let current: { rt: RuntimeProcess; epoch: number; client: Client } | null = null;
  let epochs = 0;
  let waiters: Array<() => void> = [];
  const outputs: string[] = [];
  const stream = new StreamChecker(violation);
  const sawRetrying = new Set<string>();

  const onEvent = (event: TaskEvent, epoch: number) => {
    const task = byId.get(event.id);
    if (event.status === 'RETRYING') {
      sawRetrying.add(event.id);
      if (task?.flaky) heal(task);
    }
    // A race cancel goes in at a random moment after the task started running.
    if (event.status === 'RUNNING' && task?.kind === 'race') raceCancel(task, cancelRandom() * 300);
    stream.check(event, epoch);
  };

  const start = async () => {
    const epoch = ++epochs;
    let rt: RuntimeProcess;
    try {
      rt = await startRuntime(dataDir, env);
    } catch (error) {
      violation(`runtime #${epoch} did not start: ${(error as Error).message.slice(0, 2000)}`);
      throw error;
    }
    const client = rt.ws();
    client.subscribe<{ onTaskUpdated: TaskEvent }>(
      { query: `subscription { onTaskUpdated { ${EVENT_FIELDS} } }` },
      {
        next: (message) => {
          const event = message.data?.onTaskUpdated;
          if (event) onEvent(event, epoch);
        },
        error: () => undefined, // the socket closes when the runtime is killed
        complete: () => undefined,
      },
    );
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      client.on('connected', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    current = { rt, epoch, client };
    const ready = waiters;
    waiters = [];
    for (const wake of ready) wake();
  };

  const whenUp = async () => {
    while (!current) await new Promise<void>((resolve) => waiters.push(resolve));
    return current;
  };

  let inFlight = 0;
  const call = async <T>(query: string, variables: Record<string, unknown>): Promise<CallResult<T>> => {
    const { rt } = await whenUp();
    inFlight += 1;
    try {
      const { status, body } = await rt.gql<T>(query, variables);
      if (body.errors?.length) {
        const first = body.errors[0]!;
        return {
          ok: false,
          network: false,
          message: `HTTP ${status} ${String(first['errorType'])}: ${String(first['message'])}`,
          errorType: String(first['errorType']),
        };
      }
      if (status !== 200 || !body.data) return { ok: false, network: false, message: `HTTP ${status}` };
      return { ok: true, data: body.data };
    } catch (error) {
      return { ok: false, network: true, message: String(error) };
    } finally {
      inFlight -= 1;
    }
  };

  // --- Submitting: two submitters, paced to spread over the kills; lost batches go again. ---
  const pending = [...tasks];
  let acknowledged = 0;
  let submitRequestsLost = 0;
  const submitErrors: string[] = [];
  const timers: NodeJS.Timeout[] = [];
  let cancelsOpen = 0;
  // Submissions are spread over most of the expected kill phase, so that kills land while tasks are
  // being acknowledged, queued and running.
  const meanKillDelay = (minKillDelay + maxKillDelay) / 2;
  const submitSpanMs = options.kills * (meanKillDelay + 1500) * 0.7; // a restart takes about 1.5 s
  let submitStarted = 0;

  const cancel = async (task: Planned): Promise<void> => {
    const state = task.cancel!;
    for (;;) {
      const outcome = await call<{ cancelTask: { id: string } }>(
        'mutation ($id: ID!) { cancelTask(id: $id) { id status cancelRequested } }',
        { id: task.id },
      );
      if (outcome.ok) state.acknowledged = true;
      else if (outcome.errorType === 'InvalidTransitionError') state.refused = true;
      else if (outcome.network) {
        state.uncertain = true; // it may have been applied before the kill
        await sleep(100);
        continue;
      } else violation(`cancelTask(${task.id}) failed: ${outcome.message}`);
      break;
    }
    state.done = true;
    cancelsOpen -= 1;
  };

  let cancelling = true;
  function raceCancel(task: Planned, delayMs: number) {
    if (task.cancel || !cancelling) return;
    task.cancel = { acknowledged: false, refused: false, uncertain: false, done: false };
    cancelsOpen += 1;
    timers.push(setTimeout(() => void cancel(task), delayMs));
  }

  // Polls the flaky tasks not yet repaired and repairs those that failed at least once (the RETRYING
  // event can be missed across a kill), so each of them goes through a real retry before it succeeds.
  let healing = true;
  const healer = async () => {
    while (healing) {
      const open = tasks.filter((t) => t.flaky && t.id && !t.healed);
      for (let i = 0; i < open.length && healing; i += 100) {
        const chunk = open.slice(i, i + 100);
        const answer = await call<Record<string, { status: string; attempts: number } | null>>(
          `query { ${chunk.map((t, j) => `t${j}: task(id: "${t.id}") { status attempts }`).join(' ')} }`,
          {},
        );
        if (!answer.ok) break;
        chunk.forEach((task, j) => {
          const state = answer.data[`t${j}`];
          if (state && (state.status === 'RETRYING' || state.attempts >= 2)) heal(task);
        });
      }
      await sleep(300);
    }
  };

  const submitter = async () => {
    submitStarted ||= Date.now();
    while (pending.length > 0) {
      const size = Math.min(pending.length, 1 + Math.floor(paceRandom() * 25));
      const batch = pending.splice(0, size);
      const outcome = await call<{
        submitTasks: Array<{ id: string; idempotencyKey: string; status: string }>;
      }>('mutation ($i: [SubmitTaskInput!]!) { submitTasks(inputs: $i) { id idempotencyKey status } }', {
        i: batch.map((t) => ({ ...t.input, idempotencyKey: t.key })),
      });
      if (!outcome.ok) {
        if (outcome.network) submitRequestsLost += 1;
        else submitErrors.push(outcome.message);
        pending.unshift(...batch);
        await sleep(50);
        continue;
      }
      for (const [i, returned] of outcome.data.submitTasks.entries()) {
        const task = batch[i]!;
        if (returned.idempotencyKey !== task.key) {
          violation(`submitTasks answered key ${returned.idempotencyKey} at the place of ${task.key}`);
          continue;
        }
        if (task.id && task.id !== returned.id) {
          violation(`idempotency key ${task.key} returned task ${returned.id}, earlier ${task.id}`);
        }
        task.id = returned.id;
        byId.set(returned.id, task);
        acknowledged += 1;
        if (task.kind === 'delayed') raceCancel(task, 200 + cancelRandom() * 3000);
        // In case its RUNNING event is missed, or it waits long in the queue.
        if (task.kind === 'race')
          timers.push(setTimeout(() => raceCancel(task, 0), 5000 + cancelRandom() * 5000));
      }
      // On schedule: pause so that the acknowledged share follows the elapsed share of the span.
      const due = submitStarted + (submitSpanMs * (tasks.length - pending.length)) / tasks.length;
      await sleep(Math.max(0, due - Date.now()) * (0.5 + paceRandom()));
    }
  };

  const atKill: ChaosReport['atKill'] = [];
  const killTimes: number[] = [];
  let restarts = 0;
  const kill = async () => {
    const victim = current!;
    const stats = await call<{ queueStats: { running: number; queued: number; retrying: number } }>(
      '{ queueStats { running queued retrying } }',
      {},
    );
    const submitsInFlight = inFlight;
    current = null;
    killTimes.push(Date.now());
    await victim.rt.stop('SIGKILL');
    void victim.client.dispose();
    outputs.push(victim.rt.output());
    atKill.push({
      running: stats.ok ? stats.data.queueStats.running : -1,
      waiting: stats.ok ? stats.data.queueStats.queued + stats.data.queueStats.retrying : -1,
      submitsInFlight,
    });
    log(
      `kill ${atKill.length}/${options.kills}: ${acknowledged}/${tasks.length} acknowledged, ` +
        `running ${atKill.at(-1)!.running}, waiting ${atKill.at(-1)!.waiting}, submits in flight ${submitsInFlight}`,
    );
  };

  let report: ChaosReport | undefined;
  try {
    await start();
    // Two submitters (so a kill often cuts requests off mid-flight), and the healer of flaky inputs.
    const submitting = Promise.all([submitter(), submitter()]);
    const healerDone = healer();
    for (let k = 0; k < options.kills; k++) {
      const early = killRandom() < 0.2; // sometimes right after a restart, during recovery
      await sleep(early ? killRandom() * 300 : minKillDelay + killRandom() * (maxKillDelay - minKillDelay));
      // Spread the kills over the whole submission: kill k waits for k/(kills+1) of the tasks.
      const share = Math.floor((tasks.length * k) / (options.kills + 1));
      while (acknowledged < share && pending.length > 0) await sleep(20);
      await kill();
      await start();
      restarts += 1;
    }
    log('kills done; finishing submissions');
    await submitting;
    cancelling = false; // race tasks not cancelled by now run to the end
    while (cancelsOpen > 0) await sleep(50);
    log(`all ${acknowledged} tasks acknowledged; waiting for them to settle`);

    const deadline = Date.now() + (options.settleTimeoutMs ?? 180_000);
    for (;;) {
      const stats = await call<{ queueStats: { queued: number; running: number; retrying: number } }>(
        '{ queueStats { queued running retrying } }',
        {},
      );
      if (stats.ok) {
        const { queued, running, retrying } = stats.data.queueStats;
        if (queued + running + retrying === 0) break;
        if (Date.now() > deadline) {
          violation(`tasks did not settle: ${queued} queued, ${running} running, ${retrying} retrying`);
          break;
        }
      }
      await sleep(250);
    }

    healing = false;
    await healerDone;

    // --- The store: every task, page by page. ---
    const stored = new Map<string, StoredTask>();
    let nextToken: string | null = null;
    do {
      const page: CallResult<{ tasks: { items: StoredTask[]; nextToken: string | null } }> = await call(
        `query ($t: String) { tasks(limit: 100, nextToken: $t) { items { ${TASK_FIELDS} } nextToken } }`,
        { t: nextToken },
      );
      if (!page.ok) throw new Error(`listing tasks failed: ${page.message}`);
      for (const item of page.data.tasks.items) stored.set(item.id, item);
      nextToken = page.data.tasks.nextToken;
    } while (nextToken);

    // Let the last events arrive before comparing the stream with the store.
    await sleep(500);
    const { rt, client } = current!;
    await client.dispose();
    const code = await rt.stop('SIGTERM');
    outputs.push(rt.output());
    current = null;
    if (code !== 0) violation(`the final graceful stop (SIGTERM) exited with ${code}`);

    // --- Checks. ---
    const finalStatuses: Record<string, number> = {};
    const failedCodes: Record<string, number> = {};
    const cancels = { acknowledged: 0, refused: 0, uncertain: 0, notSent: 0 };
    if (stored.size !== tasks.length) {
      violation(`the store holds ${stored.size} tasks; ${tasks.length} distinct ones were submitted`);
    }
    for (const task of tasks) {
      if (!task.id) {
        violation(`${task.key} (${task.kind}) was never acknowledged`);
        continue;
      }
      const got = stored.get(task.id);
      const what = `${task.kind} task ${task.id} (${task.key})`;
      if (!got) {
        violation(`${what} was acknowledged and is gone (lost)`);
        continue;
      }
      bump(finalStatuses, `${task.kind}:${got.status}`);
      if (got.error && got.status === 'FAILED') bump(failedCodes, got.error.code);
      if (got.idempotencyKey !== task.key) violation(`${what} has idempotencyKey ${got.idempotencyKey}`);
      const expectation: Expectation = (() => {
        if (task.kind !== 'race') return task.expect;
        const state = task.cancel;
        if (!state) return { status: 'SUCCEEDED', result: bigTextExpected };
        if (state.acknowledged) return { status: 'CANCELLED' };
        if (state.refused && !state.uncertain) return { status: 'SUCCEEDED', result: bigTextExpected };
        return got.status === 'CANCELLED'
          ? { status: 'CANCELLED' }
          : { status: 'SUCCEEDED', result: bigTextExpected };
      })();
      if (task.kind === 'race' && !task.cancel) cancels.notSent += 1;
      if (task.cancel) {
        if (task.cancel.acknowledged) cancels.acknowledged += 1;
        else if (task.cancel.refused && !task.cancel.uncertain) cancels.refused += 1;
        else cancels.uncertain += 1;
      }
      if (got.status !== expectation.status) {
        violation(
          `${what} ended ${got.status}${got.error ? ` (${got.error.code})` : ''} after ${got.attempts}/${got.maxAttempts} attempts; expected ${expectation.status}`,
        );
        continue;
      }
      if ('codes' in expectation && !expectation.codes.includes(got.error?.code ?? '')) {
        violation(`${what} FAILED with ${got.error?.code}; expected ${expectation.codes.join(' or ')}`);
      }
      if ('result' in expectation) {
        const result: unknown = got.result === null ? null : JSON.parse(got.result);
        if (!isDeepStrictEqual(result, expectation.result)) {
          violation(`${what} SUCCEEDED with a wrong result: ${String(got.result).slice(0, 300)}`);
        }
      }
      if ('email' in expectation) {
        const result = JSON.parse(got.result ?? 'null') as { messageId?: string; accepted?: string[] } | null;
        if (
          result?.messageId !== `<${task.id}@task-queue>` ||
          !isDeepStrictEqual(result.accepted, [expectation.email.to])
        ) {
          violation(`${what}: unexpected email result ${String(got.result).slice(0, 300)}`);
        }
      }
      // The stream never got ahead of the store, and agrees with it on the last version it showed.
      const last = stream.last(task.id);
      if (last) {
        if (last.version > got.version) {
          violation(`${what}: the stream showed version ${last.version}, the store has ${got.version}`);
        } else if (last.version === got.version && last.status !== got.status) {
          violation(`${what}: v${got.version} is ${got.status} in the store, ${last.status} on the stream`);
        }
      }
    }
    for (const id of stored.keys()) {
      if (!byId.has(id)) violation(`the store holds a task nobody acknowledged: ${id}`);
    }

    // --- Emails: exactly one .eml and one sent record per SEND_EMAIL task, none for anything else. ---
    const emailIds = new Set(tasks.filter((t) => t.kind === 'email' && t.id).map((t) => t.id!));
    const outbox = join(dataDir, 'outbox');
    const sentDir = join(dataDir, 'sent');
    const list = (dir: string) => {
      try {
        return readdirSync(dir);
      } catch {
        return [];
      }
    };
    const emlFiles = list(outbox).filter((f) => f.endsWith('.eml') && !f.startsWith('.'));
    const sentFiles = list(sentDir).filter((f) => f.endsWith('.json') && !f.startsWith('.'));
    const leftoverTempFiles = [...list(outbox), ...list(sentDir)].filter((f) => f.endsWith('.tmp')).length;
    const emlByTask = new Map<string, string[]>();
    // `<taskId>.eml`, one name per task; any other .eml name counts as a file of the task it names.
    for (const file of emlFiles) {
      const id = file.slice(0, -'.eml'.length);
      emlByTask.set(id, [...(emlByTask.get(id) ?? []), file]);
    }
    // When a copy was written: the file's time (the outbox mailer never rewrites a file).
    const stampOf = (file: string) => statSync(join(outbox, file)).mtimeMs;
    const inCrashWindow: ChaosReport['emails']['inCrashWindow'] = [];
    for (const id of emailIds) {
      const files = (emlByTask.get(id) ?? []).sort();
      if (files.length === 0) violation(`email task ${id} has no .eml file in the outbox`);
      if (files.length > 1) {
        // The documented window: every copy but the last was written before a kill, the next after it.
        const kills = files.slice(0, -1).map((file, i) => {
          const k = killTimes.findIndex((t) => stampOf(file) <= t && t < stampOf(files[i + 1]!));
          return k;
        });
        const text = `email task ${id} has ${files.length} .eml files in the outbox: ${files.join(', ')}`;
        if (kills.every((k) => k >= 0)) {
          inCrashWindow.push({ taskId: id, files, kill: kills[0]! + 1 });
          if (!options.allowEmailCrashWindow) {
            violation(`${text} (the documented crash window: copy 1 written before kill #${kills[0]! + 1})`);
          }
        } else violation(`${text}, not explained by a kill`);
      }
      for (const file of files) {
        if (!readFileSync(join(outbox, file), 'utf8').includes(`Message-ID: <${id}@task-queue>`)) {
          violation(`${file} does not carry the Message-ID of task ${id}`);
        }
      }
      let record: { messageId?: string; outboxFile?: string } | undefined;
      try {
        record = JSON.parse(readFileSync(join(sentDir, `${id}.json`), 'utf8')) as typeof record;
      } catch (error) {
        violation(`email task ${id} has no readable sent record: ${(error as Error).message}`);
      }
      if (record && record.messageId !== `<${id}@task-queue>`) {
        violation(`the sent record of ${id} names ${record.messageId}`);
      }
      if (record?.outboxFile && !files.some((f) => record.outboxFile!.endsWith(f))) {
        violation(`the sent record of ${id} names ${record.outboxFile}, not in the outbox`);
      }
    }
    for (const id of emlByTask.keys()) {
      if (!emailIds.has(id)) violation(`an .eml file for ${id}, which is not a SEND_EMAIL task`);
    }
    for (const file of sentFiles) {
      if (!emailIds.has(file.slice(0, -'.json'.length)))
        violation(`a sent record ${file} for no SEND_EMAIL task`);
    }

    if (violations.length > 0) {
      // For a post-mortem: what each runtime process printed, in order.
      outputs.forEach((out, i) => writeFileSync(join(dataDir, `runtime-${i + 1}.log`), out));
    }
    const runtimeErrorLines = outputs
      .flatMap((out) => out.split('\n'))
      .filter((line) => line.includes('"level":"error"') || / ERROR /.test(line));
    let tasksWithFinalEvent = 0;
    for (const task of tasks) {
      const last = task.id ? stream.last(task.id) : null;
      if (last && FINAL.has(last.status)) tasksWithFinalEvent += 1;
    }
    report = {
      seed: options.seed,
      dataDir,
      kills: atKill.length,
      restarts,
      durationMs: Date.now() - started,
      planned: tasks.length,
      acknowledged,
      submitRequestsLost,
      submitErrors,
      kinds,
      finalStatuses,
      failedCodes,
      atKill,
      events: { received: stream.received, replayed: stream.replayed, tasksWithFinalEvent },
      cancels,
      flaky: {
        healed: tasks.filter((t) => t.healed).length,
        sawRetrying: tasks.filter((t) => t.flaky && t.id && sawRetrying.has(t.id)).length,
      },
      emails: {
        tasks: emailIds.size,
        emlFiles: emlFiles.length,
        sentRecords: sentFiles.length,
        leftoverTempFiles,
        inCrashWindow,
      },
      runtimeErrorLines,
      violations,
    };
    return report;
  } finally {
    for (const timer of timers) clearTimeout(timer);
    healing = false;
    const left = current as { rt: RuntimeProcess; client: Client } | null;
    if (left) {
      void left.client.dispose();
      await left.rt.stop('SIGKILL');
    }
    if ((options.cleanup ?? true) && report && report.violations.length === 0) {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
}

/** The report as lines for a terminal. */
export function formatChaosReport(report: ChaosReport): string {
  const kv = (counts: Record<string, number>) =>
    Object.entries(counts)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  const atKill = report.atKill;
  const avg = (pick: (k: (typeof atKill)[number]) => number) =>
    atKill.length === 0 ? 0 : Math.round(atKill.reduce((sum, k) => sum + pick(k), 0) / atKill.length);
  const lines = [
    `chaos run, seed ${report.seed}: ${report.violations.length === 0 ? 'OK' : `${report.violations.length} VIOLATION(S)`}`,
    `  duration        ${(report.durationMs / 1000).toFixed(1)} s; data folder ${report.dataDir}`,
    `  kills           ${report.kills} SIGKILLs, ${report.restarts} restarts; at a kill on average ${avg((k) => k.running)} running, ` +
      `${avg((k) => k.waiting)} waiting, ${avg((k) => k.submitsInFlight)} submit requests in flight ` +
      `(${atKill.filter((k) => k.running > 0).length} kills with tasks running, ${atKill.filter((k) => k.submitsInFlight > 0).length} with submits in flight)`,
    `  tasks           ${report.acknowledged}/${report.planned} acknowledged; ${report.submitRequestsLost} submit requests cut off by a kill and sent again` +
      (report.submitErrors.length ? `; ${report.submitErrors.length} answered with errors` : ''),
    `  mix             ${kv(report.kinds)}`,
    `  final           ${kv(report.finalStatuses)}`,
    `  failure codes   ${kv(report.failedCodes)}`,
    `  cancels         ${report.cancels.acknowledged} acknowledged, ${report.cancels.refused} refused (already finished), ${report.cancels.uncertain} cut off by a kill, ${report.cancels.notSent} race tasks never cancelled`,
    `  flaky inputs    ${report.flaky.healed} repaired after an attempt failed (${report.flaky.sawRetrying} seen RETRYING on the stream)`,
    `  subscription    ${report.events.received} events; ${report.events.replayed} identical replays after a restart; ` +
      `final event seen for ${report.events.tasksWithFinalEvent}/${report.planned} tasks`,
    `  emails          ${report.emails.tasks} SEND_EMAIL tasks, ${report.emails.emlFiles} .eml files, ${report.emails.sentRecords} sent records, ` +
      `${report.emails.leftoverTempFiles} temporary files left by kills; ` +
      `${report.emails.inCrashWindow.length} sent twice in the documented crash window (kill between outbox write and sent record)`,
    `  runtime errors  ${report.runtimeErrorLines.length} error lines in the logs`,
  ];
  for (const line of report.submitErrors.slice(0, 5)) lines.push(`    submit error: ${line}`);
  for (const line of report.runtimeErrorLines.slice(0, 5)) lines.push(`    log: ${line.slice(0, 300)}`);
  for (const v of report.violations.slice(0, 50)) lines.push(`  VIOLATION ${v}`);
  if (report.violations.length > 50) lines.push(`  … and ${report.violations.length - 50} more`);
  return lines.join('\n');
}
