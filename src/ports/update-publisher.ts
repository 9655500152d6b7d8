import type { TaskUpdate } from '../domain/task.ts';

/**
 * Delivers task changes to subscribers by calling the `publishTaskUpdate` mutation (SigV4-signed on
 * AWS, in-process locally). Called only by the publish-updates handler, which the store's committed
 * changes drive.
 */
export interface UpdatePublisher {
  publish(update: TaskUpdate): Promise<void>;
}
