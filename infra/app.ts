// The CDK app: `npm run synth` / `npm run deploy` (cdk deploy). Settings come from CDK context
// (cdk.json, or -c key=value): maxConcurrency, batchSize, retentionDays, emailIdentity, stackName.
import { App, Duration, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { TaskQueueStack } from './task-queue-stack.ts';

export function buildApp(app = new App()): { app: App; stack: TaskQueueStack } {
  const context = (key: string): string | undefined => app.node.tryGetContext(key) ?? undefined;
  const number = (key: string) => (context(key) === undefined ? undefined : Number(context(key)));
  const stack = new TaskQueueStack(app, context('stackName') ?? 'TaskQueue', {
    taskQueue: {
      maxConcurrency: number('maxConcurrency'),
      batchSize: number('batchSize'),
      retentionDays: number('retentionDays'),
      emailIdentity: context('emailIdentity'),
      ...(number('oldestMessageAlarmMinutes')
        ? { oldestMessageAlarmAge: Duration.minutes(number('oldestMessageAlarmMinutes')!) }
        : {}),
    },
  });
  // Every synth runs the AWS Solutions rules; a finding without an acknowledgement fails it.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

if (import.meta.main) {
  buildApp().app.synth();
}
