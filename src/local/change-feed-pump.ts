import { setImmediate as setImmediatePromise } from 'node:timers/promises';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { coerceError } from '../domain/errors.ts';
import type { Logger } from '../domain/task-type.ts';
import type { SqliteChangeFeed } from '../adapters/sqlite/sqlite-change-feed.ts';

/**
 * Feeds the store's committed changes to the publish-updates handler, as Lambda's DynamoDB stream
 * event source does: batches in commit order, resume from a reported failure, retry after a pause.
 */
export class ChangeFeedPump {
  readonly #feed: SqliteChangeFeed;
  readonly #handler: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>;
  readonly #logger: Logger;
  readonly #batchSize: number;
  #scheduled = false;
  #running: Promise<void> | undefined;
  #stopped = false;
  #retryTimer: NodeJS.Timeout | undefined;

  constructor(options: {
    feed: SqliteChangeFeed;
    handler: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>;
    logger: Logger;
    batchSize?: number;
  }) {
    this.#feed = options.feed;
    this.#handler = options.handler;
    this.#logger = options.logger;
    this.#batchSize = options.batchSize ?? 500;
  }

  /** Something committed: drain the feed soon. Cheap to call often. */
  poke(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (!this.#running) this.#running = this.#drain().finally(() => (this.#running = undefined));
      else this.poke();
    });
  }

  async #drain(): Promise<void> {
    while (!this.#stopped) {
      const records = this.#feed.read(this.#batchSize);
      if (records.length === 0) return;
      let failedAt: string | undefined;
      try {
        const response = await this.#handler({ Records: records });
        failedAt = response.batchItemFailures[0]?.itemIdentifier;
      } catch (error) {
        this.#logger.error('update publisher failed; retrying the batch', {
          error: coerceError(error).message,
        });
        failedAt = records[0]?.dynamodb?.SequenceNumber;
      }
      const lastOk =
        failedAt === undefined ? records.at(-1)?.dynamodb?.SequenceNumber : String(Number(failedAt) - 1);
      if (lastOk !== undefined && Number(lastOk) >= Number(records[0]?.dynamodb?.SequenceNumber)) {
        this.#feed.acknowledge(Number(lastOk));
      }
      if (failedAt !== undefined) {
        clearTimeout(this.#retryTimer);
        this.#retryTimer = setTimeout(() => this.poke(), 1000);
        return;
      }
      // Publishing settles in microtasks alone, so without this a long feed would hold off the
      // thread's messages and timers (a new subscriber waiting for the mirror, say) until it ends.
      await setImmediatePromise();
    }
  }

  async stop(): Promise<void> {
    await this.#running;
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    try {
      await this.#feed.forget();
    } catch (error) {
      // Not fatal: the records stay and are published again on the next start (at least once).
      this.#logger.warn('could not delete published changes on stop; they will be published again', {
        error: coerceError(error).message,
      });
    }
  }
}
