import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../infra/app.ts';
import { TASK_INDEXES } from '../../src/adapters/dynamodb/task-item.ts';
import { FIELD_RESOLVERS } from '../../src/appsync/resolver-config.ts';

let template: Template;
let outdir: string;

type Resource = { Type: string; Properties: Record<string, unknown> };

function resources(type: string): Resource[] {
  return Object.values(template.findResources(type)) as Resource[];
}

function allStatements(): Array<{ Action: string | string[]; Resource: unknown; Effect: string }> {
  return resources('AWS::IAM::Policy').flatMap(
    (p) => (p.Properties['PolicyDocument'] as { Statement: never[] }).Statement,
  );
}

beforeAll(() => {
  // Synthesizing runs every cdk-nag AWS Solutions rule: an unacknowledged finding throws here.
  outdir = mkdtempSync(join(tmpdir(), 'tq-cdk-'));
  const { app, stack } = buildApp(new App({ outdir }));
  app.synth();
  template = Template.fromStack(stack);
}, 120_000);

describe('the CDK stack', () => {
  it('serves schema.graphql unchanged with API key auth by default and IAM besides, logging and tracing on', () => {
    template.hasResourceProperties('AWS::AppSync::GraphQLApi', {
      AuthenticationType: 'API_KEY',
      AdditionalAuthenticationProviders: [{ AuthenticationType: 'AWS_IAM' }],
      LogConfig: Match.objectLike({ FieldLogLevel: 'ERROR' }),
      XrayEnabled: true,
      QueryDepthLimit: 20,
    });
    const [schema] = resources('AWS::AppSync::GraphQLSchema');
    expect(schema!.Properties['Definition']).toBe(readFileSync('schema.graphql', 'utf8'));
    template.resourceCountIs('AWS::AppSync::ApiKey', 1);
  });

  it('wires every field of resolver-config to an APPSYNC_JS resolver on the configured data source', () => {
    const dataSources = resources('AWS::AppSync::DataSource');
    const typeOf = (name: unknown) =>
      dataSources.find((d) => d.Properties['Name'] === name)?.Properties['Type'];
    const expected = { API_LAMBDA: 'AWS_LAMBDA', TASKS_TABLE: 'AMAZON_DYNAMODB', NONE: 'NONE' };
    const deployed = resources('AWS::AppSync::Resolver');
    expect(deployed).toHaveLength(FIELD_RESOLVERS.length);
    for (const field of FIELD_RESOLVERS) {
      const resolver = deployed.find(
        (r) => r.Properties['TypeName'] === field.typeName && r.Properties['FieldName'] === field.fieldName,
      );
      expect(resolver, `${field.typeName}.${field.fieldName}`).toBeDefined();
      expect(resolver!.Properties['Runtime']).toEqual({ Name: 'APPSYNC_JS', RuntimeVersion: '1.0.0' });
      expect(typeOf(resolver!.Properties['DataSourceName'])).toBe(expected[field.dataSource]);
      const code = String(resolver!.Properties['Code']);
      expect(code).toMatch(/export\s*\{[^}]*request[^}]*response|function request/);
      // Only AppSync's own modules may stay imports; everything else is bundled in.
      for (const [, module] of code.matchAll(/from\s*["']([^"']+)["']/g))
        expect(module).toMatch(/^@aws-appsync\//);
      expect(code.length).toBeLessThanOrEqual(32_768);
    }
  });

  it('grants the publisher appsync:GraphQL on publishTaskUpdate only, and nobody anything wider', () => {
    const graphql = allStatements().filter((s) => [s.Action].flat().some((a) => a.startsWith('appsync:')));
    expect(graphql).toHaveLength(1);
    expect(graphql[0]!.Action).toBe('appsync:GraphQL');
    expect(JSON.stringify(graphql[0]!.Resource)).toMatch(/\/types\/Mutation\/fields\/publishTaskUpdate"/);
    for (const statement of allStatements()) expect([statement.Action].flat()).not.toContain('*');
  });

  it('has a standard SQS queue with SSL enforced, encryption, a redrive to the DLQ, and visibility ≥ 6 × the processor timeout', () => {
    const processor = resources('AWS::Lambda::Function').find((f) =>
      JSON.stringify(f.Properties['Environment']).includes('task-queue-processor'),
    )!;
    const timeout = processor.Properties['Timeout'] as number;
    template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: timeout * 6,
      SqsManagedSseEnabled: true,
      RedrivePolicy: Match.objectLike({ maxReceiveCount: 100 }),
    });
    expect(resources('AWS::SQS::Queue').every((q) => q.Properties['SqsManagedSseEnabled'] === true)).toBe(
      true,
    );
    const sslDenies = resources('AWS::SQS::QueuePolicy').filter((p) =>
      JSON.stringify(p.Properties['PolicyDocument']).includes('"aws:SecureTransport":"false"'),
    );
    expect(sslDenies.length).toBe(resources('AWS::SQS::Queue').length);
    expect(
      (processor.Properties['Environment'] as { Variables: Record<string, string> }).Variables[
        'VISIBILITY_TIMEOUT_SECONDS'
      ],
    ).toBe(String(timeout * 6));
  });

  it('feeds the processor from SQS with ReportBatchItemFailures, a batch size and a maximum concurrency', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: Match.objectLike({
        'Fn::GetAtt': Match.arrayWith([Match.stringLikeRegexp('TaskQueue')]),
      }),
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: 10,
      ScalingConfig: { MaximumConcurrency: 20 },
    });
  });

  it('has an on-demand table with point-in-time recovery, TTL, a NEW_IMAGE stream and the indexes the store queries', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
      SSESpecification: { SSEEnabled: true },
    });
    const [table] = resources('AWS::DynamoDB::Table');
    const indexes = table!.Properties['GlobalSecondaryIndexes'] as Array<{
      IndexName: string;
      KeySchema: Array<{ AttributeName: string; KeyType: string }>;
    }>;
    expect(indexes.map((i) => i.IndexName).sort()).toEqual(Object.keys(TASK_INDEXES).sort());
    for (const index of indexes) {
      const keys = TASK_INDEXES[index.IndexName as keyof typeof TASK_INDEXES];
      expect(index.KeySchema).toEqual([
        { AttributeName: keys.partitionKey, KeyType: 'HASH' },
        { AttributeName: keys.sortKey, KeyType: 'RANGE' },
      ]);
    }
  });

  it('publishes from the stream in order, bisecting failed batches, with an on-failure destination, and skips removals', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      StartingPosition: 'TRIM_HORIZON',
      BisectBatchOnFunctionError: true,
      ParallelizationFactor: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
      FilterCriteria: { Filters: [{ Pattern: JSON.stringify({ eventName: ['INSERT', 'MODIFY'] }) }] },
    });
  });

  it('runs every Lambda on Node.js 24, ARM64, with active tracing', () => {
    const functions = resources('AWS::Lambda::Function').filter((f) =>
      JSON.stringify(f.Properties['Environment'] ?? '').includes('POWERTOOLS_SERVICE_NAME'),
    );
    expect(functions).toHaveLength(3);
    for (const fn of functions) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
      });
    }
  });

  it('keeps blobs in an encrypted, private, SSL-only bucket with a lifecycle expiry', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: Match.anyValue(),
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 30, Status: 'Enabled' })] },
      LoggingConfiguration: Match.anyValue(),
    });
  });

  it('alarms on the dead-letter queue, the age of the oldest message and processor errors, and has a dashboard', () => {
    const alarms = resources('AWS::CloudWatch::Alarm').map((a) => a.Properties);
    expect(alarms).toHaveLength(3);
    expect(alarms.map((a) => a['MetricName']).sort()).toEqual(
      ['ApproximateAgeOfOldestMessage', 'ApproximateNumberOfMessagesVisible', 'Errors'].sort(),
    );
    expect(alarms.find((a) => a['MetricName'] === 'ApproximateNumberOfMessagesVisible')!['Threshold']).toBe(
      1,
    );
    expect(alarms.find((a) => a['MetricName'] === 'ApproximateAgeOfOldestMessage')!['Threshold']).toBe(600);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  it('outputs the GraphQL URL, the realtime URL and the API key', () => {
    const outputs = template.findOutputs('*');
    expect(Object.keys(outputs)).toEqual(expect.arrayContaining(['GraphQLUrl', 'RealtimeUrl', 'ApiKey']));
  });

  it('installs sharp for Linux ARM64 beside the processor bundle instead of bundling it', () => {
    const processor = resources('AWS::Lambda::Function').find((f) =>
      JSON.stringify(f.Properties['Environment']).includes('task-queue-processor'),
    )!;
    const hash = /([0-9a-f]{64})\.zip/.exec(
      JSON.stringify((processor.Properties['Code'] as { S3Key: unknown }).S3Key),
    )![1];
    const img = join(outdir, `asset.${hash}`, 'node_modules', '@img');
    expect(readdirSync(img)).toContain('sharp-linux-arm64');
  });

  it('bundles each Lambda into an ES module that loads and exports a handler', async () => {
    const functions = resources('AWS::Lambda::Function').filter((f) =>
      JSON.stringify(f.Properties['Environment'] ?? '').includes('POWERTOOLS_SERVICE_NAME'),
    );
    const env = {
      TABLE_NAME: 'tasks',
      QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/tasks',
      DEAD_LETTER_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/dlq',
      APPSYNC_GRAPHQL_URL: 'https://example.appsync-api.us-east-1.amazonaws.com/graphql',
      AWS_REGION: 'us-east-1',
      BLOB_BUCKET: 'blobs',
    };
    Object.assign(process.env, env);
    for (const fn of functions) {
      const key = JSON.stringify((fn.Properties['Code'] as { S3Key: unknown }).S3Key);
      const hash = /([0-9a-f]{64})\.zip/.exec(key)![1];
      const module = (await import(join(outdir, `asset.${hash}`, 'index.mjs'))) as { handler?: unknown };
      expect(typeof module.handler).toBe('function');
    }
  });

  it('makes synth offline: no notices and no CLI telemetry', () => {
    const cdkJson = JSON.parse(readFileSync('infra/cdk.json', 'utf8')) as {
      notices: boolean;
      context: Record<string, unknown>;
    };
    expect(cdkJson.notices).toBe(false);
    expect(cdkJson.context['cli-telemetry']).toBe(false);
  });

  it('grants SES sending on the configured identity only, and none without one', () => {
    const withEmail = buildApp(
      new App({ outdir: mkdtempSync(join(tmpdir(), 'tq-cdk-')), context: { emailIdentity: 'example.com' } }),
    );
    const ses = (t: Template) =>
      Object.values(t.findResources('AWS::IAM::Policy')).flatMap((p) =>
        (
          (p as Resource).Properties['PolicyDocument'] as {
            Statement: Array<{ Action: unknown; Resource: unknown }>;
          }
        ).Statement.filter((s) => JSON.stringify(s.Action).includes('ses:')),
      );
    const statements = ses(Template.fromStack(withEmail.stack));
    expect(statements).toHaveLength(1);
    expect(JSON.stringify(statements[0]!.Resource)).toMatch(/:identity\/example\.com"/);
    expect(ses(template)).toEqual([]);
  });
});
