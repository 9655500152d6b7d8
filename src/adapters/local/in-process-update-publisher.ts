import type { TaskUpdate } from '../../domain/task.ts';
import type { UpdatePublisher } from '../../ports/update-publisher.ts';
import type { LocalAppSync } from '../../appsync/local-appsync.ts';
import {
  PUBLISH_TASK_UPDATE_MUTATION,
  publishVariables,
} from '../../handlers/publish-task-update-document.ts';

/**
 * Publishes by running the publishTaskUpdate mutation in-process with IAM auth, through the same
 * schema, auth checks and NONE resolver as any request. The AWS twin sends the same mutation as a
 * SigV4-signed HTTP request. When no subscription would receive the update it skips the work: the
 * mutation has no other effect, so no subscriber misses anything. Its resolver returns its input, so
 * the update is what subscription filters would see (a test holds the resolver to that). One thing
 * does differ: an update the schema would refuse (a type missing from an enum, say) fails only when
 * a subscriber would receive it, not on every change.
 */
export class InProcessUpdatePublisher implements UpdatePublisher {
  readonly #appsync: LocalAppSync;

  constructor(appsync: LocalAppSync) {
    this.#appsync = appsync;
  }

  async publish(update: TaskUpdate): Promise<void> {
    if (!this.#appsync.wouldReach(PUBLISH_TASK_UPDATE_MUTATION, update)) return;
    const result = await this.#appsync.execute(PUBLISH_TASK_UPDATE_MUTATION, publishVariables(update), {
      auth: { mode: 'AWS_IAM' },
      headers: {},
    });
    if (result.errors?.length) {
      throw new Error(`publishTaskUpdate failed: ${result.errors.map((e) => e.message).join('; ')}`);
    }
  }
}
