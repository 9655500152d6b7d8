// Query.task on the tasks table (a DynamoDB data source): one strongly consistent GetItem.
import { util, type Context, type DynamoDBGetItemRequest } from '@aws-appsync/utils';
import type { QueryTaskArgs } from '../src/generated/graphql.ts';
import { TASK_ID_PATTERN } from './lib/task-id.ts';

export function request(ctx: Context<QueryTaskArgs>): DynamoDBGetItemRequest {
  if (!util.matches(TASK_ID_PATTERN, ctx.args.id)) {
    util.error(`"${ctx.args.id}" is not a task id (a lowercase UUID).`, 'ValidationError', null, {
      issues: [{ path: 'id', message: 'is not a task id' }],
    });
  }
  return { operation: 'GetItem', key: util.dynamodb.toMapValues({ id: ctx.args.id }), consistentRead: true };
}

export function response(ctx: Context<QueryTaskArgs>): unknown {
  if (ctx.error) {
    util.error(ctx.error.message, ctx.error.type);
  }
  const item = ctx.result;
  if (!item || item.entity !== 'TASK') {
    return null;
  }
  // DynamoDB's TTL deletes expired items lazily; to clients they are gone at once.
  if (item.ttl && item.ttl <= util.time.nowEpochSeconds()) {
    return null;
  }
  return item;
}
