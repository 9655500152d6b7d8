/**
 * Task ids are lowercase UUIDs (version 7, time-ordered, from the submit use case). The
 * APPSYNC_JS resolvers bundle this same constant, so AWS and the local runtime agree on what an id is.
 */
export const TASK_ID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

const TASK_ID = new RegExp(TASK_ID_PATTERN);

export function isTaskId(value: unknown): boolean {
  return typeof value === 'string' && TASK_ID.test(value);
}
