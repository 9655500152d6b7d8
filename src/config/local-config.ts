import { z } from 'zod';
import { ConfigurationError } from '../domain/errors.ts';

/**
 * Every setting of the local runtime, in one table: its environment variable, default and meaning.
 * `.env.example` lists the same keys (a test checks it) and the README's configuration table is
 * made from the same descriptions.
 */
export const LOCAL_SETTINGS = {
  PORT: { default: '4000', doc: 'Port of the GraphQL endpoint (HTTP and WebSocket on one port).' },
  HOST: { default: '127.0.0.1', doc: 'Address to bind. Loopback unless you mean to expose it.' },
  DATA_DIR: { default: './.data', doc: 'Folder for the database and the generated API key.' },
  API_KEY: {
    default: '',
    doc: 'API key clients send as x-api-key. Empty: generated once and kept in DATA_DIR.',
  },
  LOG_LEVEL: {
    default: 'info',
    doc: 'debug, info, warn, error or silent. debug logs every task state change.',
  },
  WORKER_THREADS: {
    default: '1',
    doc: 'Threads that run tasks, apart from the API thread and the publisher thread. 0 runs tasks and the change feed publisher in the API thread (debugging).',
  },
  WORKER_CONCURRENCY: { default: '64', doc: 'Tasks that may run at once in each worker thread.' },
  BATCH_SIZE: {
    default: '10',
    doc: 'Messages per processor invocation (like the SQS event source batch size).',
  },
  VISIBILITY_TIMEOUT_SECONDS: {
    default: '30',
    doc: 'Lease of a received message; a running task renews it, a dead worker loses it.',
  },
  MAX_RECEIVE_COUNT: {
    default: '100',
    doc: 'Receives after which a message is dead-lettered (redrive policy).',
  },
  RETRY_BASE_SECONDS: {
    default: '2',
    doc: 'Backoff base: retry n waits up to base × 2^(n-1) seconds, jittered.',
  },
  RETRY_MAX_SECONDS: { default: '900', doc: 'Longest backoff between attempts.' },
  PROGRESS_THROTTLE_MS: { default: '250', doc: 'At most one progress update per task per this many ms.' },
  CANCEL_CHECK_MS: { default: '500', doc: 'How often a running task checks whether it was cancelled.' },
  RETENTION_DAYS: { default: '7', doc: 'Finished tasks are removed this long after they finish.' },
  SHUTDOWN_GRACE_SECONDS: {
    default: '10',
    doc: 'On SIGINT/SIGTERM, running tasks get this long to finish before they are released.',
  },
  SMTP_URL: {
    default: '',
    doc: 'SEND_EMAIL through this SMTP server (smtp://user:pass@host:587). Empty: write .eml files to DATA_DIR/outbox.',
  },
  MAIL_FROM: {
    default: 'task-queue@localhost.localdomain',
    doc: 'Sender of emails whose payload names none.',
  },
  DURABILITY: {
    default: 'normal',
    doc: 'normal: survives process crashes (SQLite WAL, synchronous=NORMAL). full: also power loss, slower.',
  },
} as const satisfies Record<string, { default: string; doc: string }>;

export type LocalSettingName = keyof typeof LOCAL_SETTINGS;

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const schema = z.object({
  PORT: int(0, 65535),
  HOST: z.string().min(1),
  DATA_DIR: z.string().min(1),
  API_KEY: z
    .string()
    .refine(
      (v) => v === '' || /^[A-Za-z0-9_-]{16,128}$/.test(v),
      'must be 16 to 128 letters, digits, - or _',
    ),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']),
  WORKER_THREADS: int(0, 64),
  WORKER_CONCURRENCY: int(1, 10_000),
  BATCH_SIZE: int(1, 100),
  VISIBILITY_TIMEOUT_SECONDS: int(1, 43_200),
  MAX_RECEIVE_COUNT: int(1, 1000),
  RETRY_BASE_SECONDS: z.coerce.number().positive().max(3600),
  RETRY_MAX_SECONDS: z.coerce.number().positive().max(43_200),
  PROGRESS_THROTTLE_MS: int(0, 60_000),
  CANCEL_CHECK_MS: int(10, 60_000),
  RETENTION_DAYS: z.coerce.number().positive().max(3650),
  SHUTDOWN_GRACE_SECONDS: z.coerce.number().min(0).max(3600),
  SMTP_URL: z
    .string()
    .refine((v) => v === '' || /^smtps?:\/\//.test(v), 'must start with smtp:// or smtps://'),
  MAIL_FROM: z.email({ message: 'must be an email address' }),
  DURABILITY: z.enum(['normal', 'full']),
});

export type LocalConfig = z.output<typeof schema>;

/**
 * Reads the settings from `env` (defaults for unset or empty values). Fails fast with every wrong
 * variable named, so a typo in `.env` stops the start with a message instead of a surprise later.
 */
export function loadLocalConfig(env: Record<string, string | undefined>): LocalConfig {
  const raw = Object.fromEntries(
    Object.entries(LOCAL_SETTINGS).map(([name, setting]) => {
      const value = env[name];
      return [name, value === undefined || value === '' ? setting.default : value];
    }),
  );
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (issue) => `${issue.path.join('.')}=${JSON.stringify(raw[String(issue.path[0])])}: ${issue.message}`,
    );
    throw new ConfigurationError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  return parsed.data;
}
