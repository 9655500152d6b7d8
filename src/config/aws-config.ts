import { z } from 'zod';
import { ConfigurationError } from '../domain/errors.ts';

/**
 * The settings of the Lambda functions, which the CDK stack sets as environment variables. Read
 * once per cold start; a missing or wrong one fails the function at once, naming the variable.
 */
export const AWS_SETTINGS = {
  TABLE_NAME: 'DynamoDB table of tasks.',
  QUEUE_URL: 'URL of the task queue (SQS).',
  DEAD_LETTER_QUEUE_URL: 'URL of the dead-letter queue (SQS).',
  APPSYNC_GRAPHQL_URL: 'The API endpoint the publisher calls publishTaskUpdate on.',
  BLOB_BUCKET: 'S3 bucket of task inputs and outputs.',
  AWS_REGION: 'Set by Lambda.',
  VISIBILITY_TIMEOUT_SECONDS: 'The queue visibility timeout: the lease of a received message.',
  RETENTION_DAYS: 'Finished tasks expire this long after they finish (DynamoDB TTL).',
  RETRY_BASE_SECONDS: 'Backoff base.',
  RETRY_MAX_SECONDS: 'Longest backoff.',
  PROGRESS_THROTTLE_MS: 'At most one progress write per task per this many ms.',
  CANCEL_CHECK_MS: 'How often a running task checks for cancellation.',
} as const;

const number = (name: string) =>
  z.coerce.number({ message: `Environment variable ${name} must be a number` }).positive();

const schema = z.object({
  TABLE_NAME: z.string().min(1),
  QUEUE_URL: z.string().url(),
  DEAD_LETTER_QUEUE_URL: z.string().url(),
  APPSYNC_GRAPHQL_URL: z.string().url(),
  BLOB_BUCKET: z.string().min(3),
  AWS_REGION: z.string().min(1),
  VISIBILITY_TIMEOUT_SECONDS: number('VISIBILITY_TIMEOUT_SECONDS').default(900),
  RETENTION_DAYS: number('RETENTION_DAYS').default(7),
  RETRY_BASE_SECONDS: number('RETRY_BASE_SECONDS').default(2),
  RETRY_MAX_SECONDS: number('RETRY_MAX_SECONDS').default(900),
  PROGRESS_THROTTLE_MS: number('PROGRESS_THROTTLE_MS').default(1000),
  CANCEL_CHECK_MS: number('CANCEL_CHECK_MS').default(2000),
});

export type AwsConfig = z.output<typeof schema>;
export type AwsSettingName = keyof typeof AWS_SETTINGS;

/**
 * Reads the named settings (a function needs only some of them).
 *
 * @example
 * const { TABLE_NAME } = loadAwsConfig(process.env, ['TABLE_NAME']);
 */
export function loadAwsConfig<K extends AwsSettingName>(
  env: Record<string, string | undefined>,
  names: readonly K[],
): Pick<AwsConfig, K> {
  const picked = schema.pick(Object.fromEntries(names.map((n) => [n, true])) as never);
  const raw = Object.fromEntries(names.map((n) => [n, env[n] === '' ? undefined : env[n]]));
  const parsed = picked.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      return raw[name] === undefined
        ? `Environment variable ${name} is required`
        : `${name}: ${issue.message}`;
    });
    throw new ConfigurationError(lines.join('; '));
  }
  return parsed.data as Pick<AwsConfig, K>;
}
