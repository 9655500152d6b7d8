import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { ArnFormat, Duration, Expiration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as appsync from 'aws-cdk-lib/aws-appsync';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq, SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { TASK_INDEXES } from '../src/adapters/dynamodb/task-item.ts';
import { APPSYNC_ESBUILD_OPTIONS } from '../src/appsync/js-runtime/bundle.ts';
import { FIELD_RESOLVERS, type DataSourceName } from '../src/appsync/resolver-config.ts';
import { ALL_STATUSES } from '../src/domain/task-status.ts';
import { LIMITS } from '../src/domain/limits.ts';

export const REPO_ROOT = join(import.meta.dirname, '..');

/** What users tune. Every prop has a default that suits a first deployment. */
export interface TaskQueueApiProps {
  /** Most processor Lambdas running at once (the SQS event source's maximum concurrency, 2–1000). Default 20. */
  readonly maxConcurrency?: number;
  /** Messages per processor invocation (1–10). Default 10. */
  readonly batchSize?: number;
  /** The processor's timeout, which bounds a task's timeoutSeconds (at most 900). Default 900 s. */
  readonly processorTimeout?: Duration;
  /** Receives after which SQS moves a message to the dead-letter queue (the safety net). Default 100. */
  readonly maxReceiveCount?: number;
  /** Days a finished task is kept before DynamoDB's TTL removes it. Default 7. */
  readonly retentionDays?: number;
  /** Days uploaded and produced blobs are kept. Default 30. */
  readonly blobRetentionDays?: number;
  /** SES identity (a verified domain or address) the processor may send from. Default: no email sending. */
  readonly emailIdentity?: string;
  /** Alarm when the oldest message waits longer than this. Default 10 minutes. */
  readonly oldestMessageAlarmAge?: Duration;
  /** Alarm when processor errors in 5 minutes reach this. Default 1. */
  readonly processorErrorsAlarmThreshold?: number;
  /** Days of API key validity (AppSync allows up to 365). Default 365. */
  readonly apiKeyDays?: number;
  /** What happens to the table and bucket when the stack is deleted. Default RETAIN. */
  readonly removalPolicy?: RemovalPolicy;
}

/** Acknowledges cdk-nag findings on a construct, each with the reason it is acceptable. */
function acknowledge(scope: Construct, findings: Record<string, string>): void {
  for (const [id, reason] of Object.entries(findings)) Validations.of(scope).acknowledge({ id, reason });
}

function bundleResolverSync(file: string): string {
  const result = buildSync({
    ...APPSYNC_ESBUILD_OPTIONS,
    entryPoints: [join(REPO_ROOT, file)],
    format: 'esm',
    write: false,
  });
  const output = result.outputFiles[0];
  if (!output) throw new Error(`esbuild produced nothing for ${file}`);
  return output.text;
}

/**
 * The whole task queue on AWS: AppSync (schema.graphql and the APPSYNC_JS resolvers), the resolver,
 * processor and publisher Lambdas, SQS with a dead-letter queue, DynamoDB with its stream, an S3
 * bucket for blobs, and a dashboard with alarms. Wiring comes from the same resolver-config the
 * local runtime reads.
 */
export class TaskQueueApi extends Construct {
  readonly api: appsync.GraphqlApi;
  readonly table: dynamodb.Table;
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly bucket: s3.Bucket;
  readonly apiFunction: NodejsFunction;
  readonly processorFunction: NodejsFunction;
  readonly publisherFunction: NodejsFunction;
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: TaskQueueApiProps = {}) {
    super(scope, id);
    const processorTimeout = props.processorTimeout ?? Duration.minutes(15);
    if (processorTimeout.toSeconds() > 900)
      throw new Error('processorTimeout is at most 15 minutes (Lambda).');
    const batchSize = props.batchSize ?? 10;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    // AWS: the visibility timeout should be at least six times the processor's timeout.
    const visibilityTimeout = Duration.seconds(processorTimeout.toSeconds() * 6);

    // ---- Storage -------------------------------------------------------------------------------
    this.table = new dynamodb.Table(this, 'Tasks', {
      partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'ttl',
      stream: dynamodb.StreamViewType.NEW_IMAGE,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy,
    });
    for (const [indexName, keys] of Object.entries(TASK_INDEXES)) {
      this.table.addGlobalSecondaryIndex({
        indexName,
        partitionKey: { name: keys.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: keys.sortKey, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      retentionPeriod: Duration.days(LIMITS.messageRetentionDays),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This is the dead-letter queue; it has no dead-letter queue of its own.',
    });
    this.queue = new sqs.Queue(this, 'TaskQueue', {
      visibilityTimeout,
      retentionPeriod: Duration.days(LIMITS.messageRetentionDays),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 100 },
    });

    const accessLogs = new s3.Bucket(this, 'BlobAccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy,
    });
    Validations.of(accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket holds the access logs of the blob bucket; logging it would recurse.',
    });
    this.bucket = new s3.Bucket(this, 'Blobs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      serverAccessLogsBucket: accessLogs,
      lifecycleRules: [{ expiration: Duration.days(props.blobRetentionDays ?? 30) }],
      removalPolicy,
    });

    // ---- API -----------------------------------------------------------------------------------
    const apiLogRole = new iam.Role(this, 'ApiLogRole', {
      assumedBy: new iam.ServicePrincipal('appsync.amazonaws.com'),
    });
    apiLogRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [
          Stack.of(this).formatArn({
            service: 'logs',
            resource: 'log-group',
            resourceName: '/aws/appsync/apis/*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
    );
    acknowledge(apiLogRole, {
      'AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/appsync/apis/*]':
        'AppSync names its log group after the API id, which exists only once the API does.',
    });
    this.api = new appsync.GraphqlApi(this, 'Api', {
      name: `${Stack.of(this).stackName}-tasks`,
      definition: appsync.Definition.fromFile(join(REPO_ROOT, 'schema.graphql')),
      authorizationConfig: {
        defaultAuthorization: {
          authorizationType: appsync.AuthorizationType.API_KEY,
          apiKeyConfig: {
            expires: Expiration.after(Duration.days(props.apiKeyDays ?? 365)),
            description: 'Apps',
          },
        },
        additionalAuthorizationModes: [{ authorizationType: appsync.AuthorizationType.IAM }],
      },
      logConfig: {
        fieldLogLevel: appsync.FieldLogLevel.ERROR,
        role: apiLogRole,
        retention: logs.RetentionDays.ONE_MONTH,
      },
      xrayEnabled: true,
      // The same depth limit the local runtime enforces (src/domain/limits.ts).
      queryDepthLimit: LIMITS.maxQueryDepth,
    });

    // With a log config CDK sets the API log group's retention through its LogRetention function.
    const logRetention = Stack.of(this).node.children.find((c) => c.node.id.startsWith('LogRetention'));
    if (logRetention) {
      acknowledge(logRetention, {
        'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]':
          "CDK's log-retention function only writes its own logs with this policy.",
        'AwsSolutions::AwsSolutions-IAM5[Resource::*]':
          "CDK's log-retention function sets retention on log groups that exist only after deployment.",
      });
    }

    // ---- Lambdas -------------------------------------------------------------------------------
    const common = {
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      tracing: lambda.Tracing.ACTIVE,
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      bundling: {
        format: OutputFormat.ESM,
        target: 'node24',
        minify: true,
        sourceMap: true,
        forceDockerBundling: false,
        // The AWS SDK v3 is part of the Node.js runtime.
        externalModules: ['@aws-sdk/*'],
        // ESM bundles of CommonJS dependencies need require().
        banner:
          "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
      },
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_METRICS_NAMESPACE: 'TaskQueue',
        RETENTION_DAYS: String(props.retentionDays ?? 7),
      },
    } satisfies Partial<ConstructorParameters<typeof NodejsFunction>[2]>;
    const logGroup = (name: string) =>
      new logs.LogGroup(this, `${name}Logs`, {
        retention: logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      });

    this.apiFunction = new NodejsFunction(this, 'ApiResolver', {
      ...common,
      entry: join(REPO_ROOT, 'lambdas/api-resolver.ts'),
      timeout: Duration.seconds(10),
      memorySize: 512,
      logGroup: logGroup('ApiResolver'),
      environment: {
        ...common.environment,
        POWERTOOLS_SERVICE_NAME: 'task-queue-api',
        TABLE_NAME: this.table.tableName,
        QUEUE_URL: this.queue.queueUrl,
        DEAD_LETTER_QUEUE_URL: this.deadLetterQueue.queueUrl,
        BLOB_BUCKET: this.bucket.bucketName,
      },
    });
    this.table.grantReadWriteData(this.apiFunction);
    // Presigned URLs carry the signer's permissions: uploads under uploads/, downloads of outputs/.
    this.apiFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects('uploads/*')],
      }),
    );
    this.apiFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [this.bucket.arnForObjects('outputs/*')],
      }),
    );
    this.queue.grantSendMessages(this.apiFunction);

    this.processorFunction = new NodejsFunction(this, 'Processor', {
      ...common,
      bundling: {
        ...common.bundling,
        // sharp is a native module: installed beside the bundle for Lambda's Linux ARM64, not bundled.
        externalModules: [...common.bundling.externalModules, 'sharp'],
        nodeModules: ['sharp'],
        environment: { npm_config_os: 'linux', npm_config_cpu: 'arm64', npm_config_libc: 'glibc' },
      },
      entry: join(REPO_ROOT, 'lambdas/process-tasks.ts'),
      timeout: processorTimeout,
      memorySize: 1024,
      logGroup: logGroup('Processor'),
      environment: {
        ...common.environment,
        POWERTOOLS_SERVICE_NAME: 'task-queue-processor',
        TABLE_NAME: this.table.tableName,
        QUEUE_URL: this.queue.queueUrl,
        DEAD_LETTER_QUEUE_URL: this.deadLetterQueue.queueUrl,
        VISIBILITY_TIMEOUT_SECONDS: String(visibilityTimeout.toSeconds()),
        BLOB_BUCKET: this.bucket.bucketName,
        ...(props.emailIdentity ? { EMAIL_IDENTITY: props.emailIdentity } : {}),
      },
    });
    this.table.grantReadWriteData(this.processorFunction);
    this.deadLetterQueue.grantSendMessages(this.processorFunction);
    this.processorFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
      }),
    );
    this.processorFunction.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize,
        maxConcurrency: props.maxConcurrency ?? 20,
        reportBatchItemFailures: true,
      }),
    );
    if (props.emailIdentity) {
      this.processorFunction.addToRolePolicy(
        new iam.PolicyStatement({
          // SES v2 SendEmail is authorized as ses:SendEmail on the identity (and configuration set).
          actions: ['ses:SendEmail', 'ses:SendRawEmail'],
          resources: [
            Stack.of(this).formatArn({
              service: 'ses',
              resource: 'identity',
              resourceName: props.emailIdentity,
            }),
          ],
        }),
      );
    }

    const publishFailures = new sqs.Queue(this, 'PublishFailures', {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    Validations.of(publishFailures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is the on-failure destination of the stream; it has no dead-letter queue of its own.',
    });
    this.publisherFunction = new NodejsFunction(this, 'Publisher', {
      ...common,
      entry: join(REPO_ROOT, 'lambdas/publish-updates.ts'),
      timeout: Duration.seconds(60),
      memorySize: 512,
      logGroup: logGroup('Publisher'),
      environment: {
        ...common.environment,
        POWERTOOLS_SERVICE_NAME: 'task-queue-publisher',
        APPSYNC_GRAPHQL_URL: this.api.graphqlUrl,
      },
    });
    this.api.grantMutation(this.publisherFunction, 'publishTaskUpdate');
    this.publisherFunction.addEventSource(
      new DynamoEventSource(this.table, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: 100,
        bisectBatchOnError: true,
        retryAttempts: 10,
        reportBatchItemFailures: true,
        parallelizationFactor: 1,
        onFailure: new SqsDlq(publishFailures),
        // TTL deletions (and any removal) are not task updates.
        filters: [lambda.FilterCriteria.filter({ eventName: lambda.FilterRule.or('INSERT', 'MODIFY') })],
      }),
    );

    const basicRole =
      'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]';
    const tableIndexes = `AwsSolutions::AwsSolutions-IAM5[Resource::<${this.logicalIdOf(this.table)}.Arn>/index/*]`;
    const xray = 'AwsSolutions::AwsSolutions-IAM5[Resource::*]';
    acknowledge(this.apiFunction, {
      [`AwsSolutions::AwsSolutions-IAM5[Resource::<${this.logicalIdOf(this.bucket)}.Arn>/uploads/*]`]:
        'Upload URLs are for fresh keys under uploads/, which do not exist yet.',
      [`AwsSolutions::AwsSolutions-IAM5[Resource::<${this.logicalIdOf(this.bucket)}.Arn>/outputs/*]`]:
        'Download URLs are for any task output, each under outputs/<taskId>/.',
      [basicRole]: 'AWSLambdaBasicExecutionRole only lets the function write its own log group.',
      [xray]: 'X-Ray PutTraceSegments/PutTelemetryRecords have no resource-level permissions.',
      [tableIndexes]: 'The function queries the indexes of its own table (tasks listing, counts).',
    });
    acknowledge(this.processorFunction, {
      [basicRole]: 'AWSLambdaBasicExecutionRole only lets the function write its own log group.',
      [xray]: 'X-Ray PutTraceSegments/PutTelemetryRecords have no resource-level permissions.',
      [tableIndexes]: 'CDK grants table access with its indexes; the processor reads and writes task items.',
      [`AwsSolutions::AwsSolutions-IAM5[Resource::<${this.logicalIdOf(this.bucket)}.Arn>/*]`]:
        'Tasks read and write objects under any key of the blob bucket (keys are per task).',
    });
    acknowledge(this.publisherFunction, {
      [basicRole]: 'AWSLambdaBasicExecutionRole only lets the function write its own log group.',
      [xray]:
        'X-Ray segments and dynamodb:ListStreams have no resource-level permissions; stream reads are scoped to the table stream.',
    });

    // ---- Resolvers, from the same table the local runtime reads ---------------------------------
    const dataSources: Record<DataSourceName, appsync.BaseDataSource> = {
      API_LAMBDA: this.api.addLambdaDataSource('ApiLambda', this.apiFunction),
      TASKS_TABLE: this.api.addDynamoDbDataSource('TasksTable', this.table),
      NONE: this.api.addNoneDataSource('None'),
    };
    acknowledge(dataSources.API_LAMBDA, {
      [`AwsSolutions::AwsSolutions-IAM5[Resource::<${this.logicalIdOf(this.apiFunction)}.Arn>:*]`]:
        'CDK lets the data source invoke every version of its one function.',
    });
    acknowledge(dataSources.TASKS_TABLE, {
      [tableIndexes]: 'CDK grants the data source its table with the indexes; the resolvers read task items.',
    });
    const code = new Map<string, appsync.Code>();
    for (const resolver of FIELD_RESOLVERS) {
      if (!code.has(resolver.code))
        code.set(resolver.code, appsync.Code.fromInline(bundleResolverSync(resolver.code)));
      new appsync.Resolver(this, `${resolver.typeName}${resolver.fieldName}Resolver`, {
        api: this.api,
        typeName: resolver.typeName,
        fieldName: resolver.fieldName,
        dataSource: dataSources[resolver.dataSource],
        runtime: appsync.FunctionRuntime.JS_1_0_0,
        code: code.get(resolver.code)!,
      });
    }

    // ---- Observability -------------------------------------------------------------------------
    const queueDepth = this.queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1) });
    const oldestAge = this.queue.metricApproximateAgeOfOldestMessage({
      period: Duration.minutes(1),
      statistic: 'Maximum',
    });
    const dlqDepth = this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
      period: Duration.minutes(1),
      statistic: 'Maximum',
    });
    const processorErrors = this.processorFunction.metricErrors({ period: Duration.minutes(5) });
    const processorDuration = this.processorFunction.metricDuration({
      period: Duration.minutes(1),
      statistic: 'p99',
    });
    const tasksByStatus = ALL_STATUSES.map(
      (status) =>
        new cloudwatch.Metric({
          namespace: 'TaskQueue',
          metricName: 'TaskChanges',
          dimensionsMap: { service: 'task-queue-publisher', status },
          statistic: 'Sum',
          period: Duration.minutes(1),
          label: status,
        }),
    );

    const alarm = (name: string, metric: cloudwatch.IMetric, threshold: number, description: string) => {
      const created = new cloudwatch.Alarm(this, name, {
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      this.alarms.push(created);
      return created;
    };
    alarm(
      'DeadLetterAlarm',
      dlqDepth,
      1,
      'Tasks reached the dead-letter queue: query tasks(filter: {status: FAILED}).',
    );
    alarm(
      'OldestMessageAlarm',
      oldestAge,
      (props.oldestMessageAlarmAge ?? Duration.minutes(10)).toSeconds(),
      'Tasks wait too long to start: raise maxConcurrency or look for a stuck processor.',
    );
    alarm(
      'ProcessorErrorsAlarm',
      processorErrors,
      props.processorErrorsAlarmThreshold ?? 1,
      'The processor Lambda failed (an invocation error, not a task failure).',
    );

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${Stack.of(this).stackName}-tasks`,
      widgets: [
        [
          new cloudwatch.GraphWidget({ title: 'Queue depth', left: [queueDepth], width: 8 }),
          new cloudwatch.GraphWidget({ title: 'Age of oldest message (s)', left: [oldestAge], width: 8 }),
          new cloudwatch.GraphWidget({ title: 'Dead-letter queue depth', left: [dlqDepth], width: 8 }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Processor errors', left: [processorErrors], width: 8 }),
          new cloudwatch.GraphWidget({
            title: 'Processor duration p99 (ms)',
            left: [processorDuration],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Task changes per status per minute',
            left: tasksByStatus,
            width: 8,
          }),
        ],
      ],
    });
  }

  /** The CloudFormation logical id of a resource construct, as cdk-nag names it in findings. */
  private logicalIdOf(construct: Construct): string {
    const child = construct.node.defaultChild as { logicalId?: string } | undefined;
    return Stack.of(this).resolve((child as unknown as { logicalId: string }).logicalId) as string;
  }

  /** The schema file, for tests that compare it with the deployed definition. */
  static schemaText(): string {
    return readFileSync(join(REPO_ROOT, 'schema.graphql'), 'utf8');
  }
}
