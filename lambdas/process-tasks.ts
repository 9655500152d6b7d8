// The SQS processor Lambda (event source mapping with ReportBatchItemFailures). Wires the AWS
// adapters into the same handler factory the local runtime's processor threads call.
import { Logger } from '@aws-lambda-powertools/logger';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { powertoolsLogger } from '../src/adapters/aws/powertools-logger.ts';
import { DynamoDbTaskStore } from '../src/adapters/dynamodb/dynamodb-task-store.ts';
import { S3BlobStore } from '../src/adapters/s3/s3-blob-store.ts';
import { SqsTaskQueue } from '../src/adapters/sqs/sqs-task-queue.ts';
import { loadAwsConfig } from '../src/config/aws-config.ts';
import { TaskTypeRegistry } from '../src/domain/task-type-registry.ts';
import { makeProcessTasksHandler } from '../src/handlers/process-tasks.ts';
import { systemClock } from '../src/ports/clock.ts';
import { UNCONFIGURED_MAIL, builtInTaskTypes } from '../src/task-types/built-in.ts';
import { makeSesMailer } from '../src/adapters/ses/ses-mailer.ts';
import { makeDynamoDbSentLedger } from '../src/adapters/dynamodb/dynamodb-sent-ledger.ts';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { makeProcessDelivery } from '../src/use-cases/process-delivery.ts';

const config = loadAwsConfig(process.env, [
  'TABLE_NAME',
  'QUEUE_URL',
  'DEAD_LETTER_QUEUE_URL',
  'VISIBILITY_TIMEOUT_SECONDS',
  'RETENTION_DAYS',
  'RETRY_BASE_SECONDS',
  'RETRY_MAX_SECONDS',
  'PROGRESS_THROTTLE_MS',
  'CANCEL_CHECK_MS',
  'BLOB_BUCKET',
]);
const tracer = new Tracer();
const emailIdentity = process.env['EMAIL_IDENTITY'];
const logger = powertoolsLogger(new Logger({ serviceName: 'task-queue-processor' }));

const doc = DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient({})));
// Without an SES identity, SEND_EMAIL tasks fail with a message saying how to set one up.
const mail = emailIdentity
  ? {
      mailer: makeSesMailer({ ses: tracer.captureAWSv3Client(new SESv2Client({})), logger }),
      ledger: makeDynamoDbSentLedger(doc, config.TABLE_NAME),
      defaultFrom: emailIdentity.includes('@') ? emailIdentity : `no-reply@${emailIdentity}`,
    }
  : { ...UNCONFIGURED_MAIL, defaultFrom: 'unconfigured@invalid.example' };

export const handler = makeProcessTasksHandler({
  processDelivery: makeProcessDelivery({
    blobs: new S3BlobStore(
      tracer.captureAWSv3Client(new S3Client({ requestChecksumCalculation: 'WHEN_REQUIRED' })),
      config.BLOB_BUCKET,
    ),
    store: new DynamoDbTaskStore(doc, config.TABLE_NAME),
    messages: new SqsTaskQueue(tracer.captureAWSv3Client(new SQSClient({})), {
      queueUrl: config.QUEUE_URL,
      deadLetterQueueUrl: config.DEAD_LETTER_QUEUE_URL,
    }),
    registry: new TaskTypeRegistry(builtInTaskTypes(mail)),
    clock: systemClock,
    logger,
    config: {
      visibilityTimeoutSeconds: config.VISIBILITY_TIMEOUT_SECONDS,
      retentionSeconds: config.RETENTION_DAYS * 86_400,
      backoff: { baseSeconds: config.RETRY_BASE_SECONDS, maxSeconds: config.RETRY_MAX_SECONDS },
      progressThrottleMs: config.PROGRESS_THROTTLE_MS,
      cancelCheckMs: config.CANCEL_CHECK_MS,
    },
  }),
  logger,
});
