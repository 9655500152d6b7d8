// The resolver Lambda behind submitTask, submitTasks, cancelTask, retryTask, tasks and queueStats.
// Wires the AWS adapters into the same handler factory the local runtime calls in-process.
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
import { apiUseCases, makeApiResolverHandler } from '../src/handlers/api-resolver.ts';
import { systemClock } from '../src/ports/clock.ts';
import { BUILT_IN_TASK_TYPES } from '../src/task-types/built-in.ts';

const config = loadAwsConfig(process.env, [
  'TABLE_NAME',
  'QUEUE_URL',
  'DEAD_LETTER_QUEUE_URL',
  'RETENTION_DAYS',
  'BLOB_BUCKET',
]);
const tracer = new Tracer();
const logger = powertoolsLogger(new Logger({ serviceName: 'task-queue-api' }));
const store = new DynamoDbTaskStore(
  DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient({}))),
  config.TABLE_NAME,
);
const queue = new SqsTaskQueue(tracer.captureAWSv3Client(new SQSClient({})), {
  queueUrl: config.QUEUE_URL,
  deadLetterQueueUrl: config.DEAD_LETTER_QUEUE_URL,
});
const registry = new TaskTypeRegistry(BUILT_IN_TASK_TYPES);
const blobs = new S3BlobStore(
  tracer.captureAWSv3Client(new S3Client({ requestChecksumCalculation: 'WHEN_REQUIRED' })),
  config.BLOB_BUCKET,
);

export const handler = makeApiResolverHandler(
  apiUseCases({
    store,
    queue,
    blobs,
    registry,
    clock: systemClock,
    logger,
    retentionSeconds: config.RETENTION_DAYS * 86_400,
  }),
);
