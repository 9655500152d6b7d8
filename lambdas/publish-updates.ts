// The publisher Lambda, fed by the tasks table's DynamoDB stream (NEW_IMAGE): calls the IAM-only
// publishTaskUpdate mutation for each committed change. Same handler factory as the local change feed.
import { Logger } from '@aws-lambda-powertools/logger';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { powertoolsLogger } from '../src/adapters/aws/powertools-logger.ts';
import { AppSyncUpdatePublisher } from '../src/adapters/appsync/appsync-update-publisher.ts';
import { loadAwsConfig } from '../src/config/aws-config.ts';
import { makePublishUpdatesHandler } from '../src/handlers/publish-updates.ts';

const config = loadAwsConfig(process.env, ['APPSYNC_GRAPHQL_URL', 'AWS_REGION']);

export const handler = makePublishUpdatesHandler({
  publisher: new AppSyncUpdatePublisher({
    graphqlUrl: config.APPSYNC_GRAPHQL_URL,
    region: config.AWS_REGION,
    credentials: defaultProvider(),
  }),
  logger: powertoolsLogger(new Logger({ serviceName: 'task-queue-publisher' })),
});
