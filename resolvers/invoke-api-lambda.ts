// The fields served by the resolver Lambda (submit, cancel, retry, tasks, queueStats, uploads,
// Task.outputs). The Lambda
// returns { data } or { error: { message, type, info } }, because AppSync passes on only the message
// of a thrown Lambda error; here the error becomes a GraphQL error with a stable errorType.
import { util, type Context, type LambdaRequest } from '@aws-appsync/utils';

export function request(ctx: Context): LambdaRequest {
  return {
    operation: 'Invoke',
    payload: {
      info: { parentTypeName: ctx.info.parentTypeName, fieldName: ctx.info.fieldName },
      arguments: ctx.arguments,
      // Nested fields (Task.outputs) need the task they belong to; root fields have none.
      source: ctx.source ? { id: ctx.source.id, result: ctx.source.result } : null,
    },
  };
}

export function response(ctx: Context): unknown {
  if (ctx.error) {
    util.error(ctx.error.message, ctx.error.type);
  }
  const envelope = ctx.result;
  if (envelope.error) {
    util.error(envelope.error.message, envelope.error.type, null, envelope.error.info);
  }
  return envelope.data;
}
