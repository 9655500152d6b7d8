import type { TaskUpdate } from '../domain/task.ts';

/**
 * The mutation the update publisher sends for each change. Its selection set is what subscribers
 * can receive (AppSync hands them the mutation's selection), so it selects every Task field but the
 * payload; a test checks it against schema.graphql.
 */
export const PUBLISH_TASK_UPDATE_MUTATION = /* GraphQL */ `
  mutation PublishTaskUpdate($input: TaskUpdateInput!) {
    publishTaskUpdate(input: $input) {
      id
      type
      status
      result
      resultSize
      error {
        code
        message
        retryable
        attempt
      }
      progress
      progressMessage
      attempts
      maxAttempts
      timeoutSeconds
      version
      createdAt
      updatedAt
      startedAt
      finishedAt
      runAt
      idempotencyKey
      cancelRequested
      leaseExpiresAt
      expiresAt
    }
  }
`;

/** The mutation's variables for one update. */
export function publishVariables(update: TaskUpdate): { input: TaskUpdate } {
  return { input: update };
}
