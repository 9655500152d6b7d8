// Subscription.onTaskUpdated on a NONE data source. The arguments (id, type, status) filter events
// by AppSync's basic filtering, which compares them with the publishTaskUpdate response; this
// resolver runs once when a client subscribes and adds nothing to that.
import type { Context, NONERequest } from '@aws-appsync/utils';

export function request(_ctx: Context): NONERequest {
  return { payload: null };
}

export function response(_ctx: Context): null {
  return null;
}
