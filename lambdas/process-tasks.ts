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
import { BUILT_IN_TASK_TYPES } from '../src/task-types/built-in.ts';
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
const logger = powertoolsLogger(new Logger({ serviceName: 'task-queue-processor' }));

export const handler = makeProcessTasksHandler({
  processDelivery: makeProcessDelivery({
    blobs: new S3BlobStore(tracer.captureAWSv3Client(new S3Client({})), config.BLOB_BUCKET),
    store: new DynamoDbTaskStore(
      DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient({}))),
      config.TABLE_NAME,
    ),
    messages: new SqsTaskQueue(tracer.captureAWSv3Client(new SQSClient({})), {
      queueUrl: config.QUEUE_URL,
      deadLetterQueueUrl: config.DEAD_LETTER_QUEUE_URL,
    }),
    registry: new TaskTypeRegistry(BUILT_IN_TASK_TYPES),
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
