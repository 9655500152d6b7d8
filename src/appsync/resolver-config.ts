/**
 * Which data source and which APPSYNC_JS file serve each field: the one table that both the CDK stack
 * and the local runtime read, so the two cannot wire the API differently.
 */
export type DataSourceName = 'API_LAMBDA' | 'TASKS_TABLE' | 'NONE';

export interface FieldResolver {
  typeName: 'Query' | 'Mutation' | 'Subscription' | 'Task';
  fieldName: string;
  dataSource: DataSourceName;
  /** Path from the repository root. */
  code: string;
}

const LAMBDA_CODE = 'resolvers/invoke-api-lambda.ts';

export const FIELD_RESOLVERS: readonly FieldResolver[] = Object.freeze([
  { typeName: 'Query', fieldName: 'task', dataSource: 'TASKS_TABLE', code: 'resolvers/Query.task.ts' },
  { typeName: 'Query', fieldName: 'tasks', dataSource: 'API_LAMBDA', code: LAMBDA_CODE },
  { typeName: 'Query', fieldName: 'queueStats', dataSource: 'API_LAMBDA', code: LAMBDA_CODE },
  { typeName: 'Mutation', fieldName: 'submitTask', dataSource: 'API_LAMBDA', code: LAMBDA_CODE },
  { typeName: 'Mutation', fieldName: 'submitTasks', dataSource: 'API_LAMBDA', code: LAMBDA_CODE },
  { typeName: 'Mutation', fieldName: 'cancelTask', dataSource: 'API_LAMBDA', code: LAMBDA_CODE },
  { typeName: 'Mutation', fieldName: 'retryTask', dataSource: 'API_LAMBDA', code: LAMBDA_CODE },
  { typeName: 'Mutation', fieldName: 'createUploadUrl', dataSource: 'API_LAMBDA', code: LAMBDA_CODE },
  { typeName: 'Task', fieldName: 'outputs', dataSource: 'API_LAMBDA', code: LAMBDA_CODE },
  {
    typeName: 'Mutation',
    fieldName: 'publishTaskUpdate',
    dataSource: 'NONE',
    code: 'resolvers/Mutation.publishTaskUpdate.ts',
  },
  {
    typeName: 'Subscription',
    fieldName: 'onTaskUpdated',
    dataSource: 'NONE',
    code: 'resolvers/Subscription.onTaskUpdated.ts',
  },
]);
