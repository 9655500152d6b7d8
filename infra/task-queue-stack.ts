import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { TaskQueueApi, type TaskQueueApiProps } from './task-queue-api.ts';

export interface TaskQueueStackProps extends StackProps {
  readonly taskQueue?: TaskQueueApiProps;
}

/** A thin stack around TaskQueueApi that prints what clients need. */
export class TaskQueueStack extends Stack {
  readonly taskQueue: TaskQueueApi;

  constructor(scope: Construct, id: string, props: TaskQueueStackProps = {}) {
    super(scope, id, props);
    this.taskQueue = new TaskQueueApi(this, 'TaskQueue', props.taskQueue);
    const { api } = this.taskQueue;
    new CfnOutput(this, 'GraphQLUrl', { value: api.graphqlUrl, description: 'POST GraphQL requests here.' });
    new CfnOutput(this, 'RealtimeUrl', {
      value: api.graphqlUrl.replace('https://', 'wss://').replace('appsync-api', 'appsync-realtime-api'),
      description: 'Subscriptions (AppSync real-time WebSocket endpoint).',
    });
    new CfnOutput(this, 'ApiKey', { value: api.apiKey ?? 'none', description: 'Send as x-api-key.' });
    new CfnOutput(this, 'DashboardName', { value: this.taskQueue.dashboard.dashboardName });
  }
}
