// The publisher Lambda, fed by the tasks table's DynamoDB stream (NEW_IMAGE): calls the IAM-only
// publishTaskUpdate mutation for each committed change. Same handler factory as the local change feed.
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { powertoolsLogger } from '../src/adapters/aws/powertools-logger.ts';
import { AppSyncUpdatePublisher } from '../src/adapters/appsync/appsync-update-publisher.ts';
import { loadAwsConfig } from '../src/config/aws-config.ts';
import { makePublishUpdatesHandler } from '../src/handlers/publish-updates.ts';

const config = loadAwsConfig(process.env, ['APPSYNC_GRAPHQL_URL', 'AWS_REGION']);

const metrics = new Metrics({ serviceName: 'task-queue-publisher' });
const appsync = new AppSyncUpdatePublisher({
  graphqlUrl: config.APPSYNC_GRAPHQL_URL,
  region: config.AWS_REGION,
  credentials: defaultProvider(),
});
const changesByStatus = new Map<string, number>();

const publish = makePublishUpdatesHandler({
  publisher: {
    async publish(update) {
      await appsync.publish(update);
      changesByStatus.set(update.status, (changesByStatus.get(update.status) ?? 0) + 1);
    },
  },
  logger: powertoolsLogger(new Logger({ serviceName: 'task-queue-publisher' })),
});

/** Publishes the batch, then emits TaskChanges per status (the dashboard's tasks-per-status graph). */
export async function handler(event: DynamoDBStreamEvent) {
  try {
    return await publish(event);
  } finally {
    for (const [status, count] of changesByStatus) {
      metrics.singleMetric().addDimension('status', status).addMetric('TaskChanges', MetricUnit.Count, count);
    }
    changesByStatus.clear();
    metrics.publishStoredMetrics();
  }
}
