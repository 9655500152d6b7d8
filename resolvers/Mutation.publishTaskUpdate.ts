// Mutation.publishTaskUpdate on a NONE data source: it stores nothing, it returns its input, and
// AppSync sends that to the onTaskUpdated subscribers. Only IAM callers (the publisher) may call it.
import type { Context, NONERequest } from '@aws-appsync/utils';
import type { MutationPublishTaskUpdateArgs } from '../src/generated/graphql.ts';

export function request(ctx: Context<MutationPublishTaskUpdateArgs>): NONERequest {
  return { payload: ctx.args.input };
}

export function response(ctx: Context<MutationPublishTaskUpdateArgs>): unknown {
  return ctx.result;
}
