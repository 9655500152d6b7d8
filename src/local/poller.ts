import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { coerceError } from '../domain/errors.ts';
import type { Logger } from '../domain/task-type.ts';
import type { ReceivedMessage, TaskQueue } from '../ports/task-queue.ts';
import { sqsEventFrom } from './sqs-event.ts';

export interface PollerOptions {
  queue: Pick<TaskQueue, 'receive' | 'delete'> & { nextVisibleAt(): number | null };
  handler: (event: SQSEvent) => Promise<SQSBatchResponse>;
  logger: Logger;
  batchSize: number;
  concurrency: number;
  visibilityTimeoutSeconds: number;
  /** Longest sleep when idle; a wake() ends it early. */
  maxIdleMs?: number;
}

/**
 * The local twin of Lambda's SQS event source mapping: receives messages, hands them to the
 * processor handler in SQS-event batches, deletes the ones it processed and leaves the
 * batchItemFailures (their visibility already set by the handler). Keeps up to `concurrency`
 * messages in flight.
 */
export class Poller {
  readonly #options: PollerOptions;
  #inFlight = 0;
  #running = false;
  #stopping = false;
  #wakeUp: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  readonly #batches = new Set<Promise<void>>();

  constructor(options: PollerOptions) {
    this.#options = options;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** New messages may be visible: stop sleeping. */
  wake(): void {
    const wake = this.#wakeUp;
    this.#wakeUp = undefined;
    wake?.();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wakeUp = undefined;
        resolve();
      }, ms);
      this.#wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async #run(): Promise<void> {
    const { options } = { options: this.#options };
    const maxIdle = options.maxIdleMs ?? 1000;
    while (!this.#stopping) {
      const capacity = options.concurrency - this.#inFlight;
      if (capacity <= 0) {
        await this.#sleep(maxIdle);
        continue;
      }
      let messages: ReceivedMessage[];
      try {
        messages = await options.queue.receive(
          Math.min(capacity, options.batchSize * 10),
          options.visibilityTimeoutSeconds,
        );
      } catch (error) {
        options.logger.error('receiving from the queue failed; retrying', {
          error: coerceError(error).message,
        });
        await this.#sleep(maxIdle);
        continue;
      }
      if (messages.length === 0) {
        const next = options.queue.nextVisibleAt();
        const wait = next === null ? maxIdle : Math.min(maxIdle, Math.max(1, next - Date.now()));
        await this.#sleep(wait);
        continue;
      }
      for (let i = 0; i < messages.length; i += options.batchSize) {
        this.#dispatch(messages.slice(i, i + options.batchSize));
      }
    }
  }

  #dispatch(batch: ReceivedMessage[]): void {
    this.#inFlight += batch.length;
    const work = (async () => {
      let failed = new Set<string>(batch.map((m) => m.messageId));
      try {
        const response = await this.#options.handler(
          sqsEventFrom(batch, 'arn:aws:sqs:local:000000000000:tasks'),
        );
        failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
      } catch (error) {
        this.#options.logger.error('processor invocation failed; its messages will be delivered again', {
          error: coerceError(error).message,
        });
      }
      const done = batch.filter((m) => !failed.has(m.messageId)).map((m) => m.receiptHandle);
      try {
        await this.#options.queue.delete(done);
      } catch (error) {
        this.#options.logger.error('deleting processed messages failed; they will be delivered again', {
          error: coerceError(error).message,
        });
      }
    })().finally(() => {
      this.#inFlight -= batch.length;
      this.#batches.delete(work);
      this.wake();
    });
    this.#batches.add(work);
  }

  /**
   * Stops receiving, then waits up to `graceMs` for running batches. Returns how many messages were
   * still in flight when the grace ran out (their leases are released by the next start).
   */
  async stop(graceMs: number): Promise<number> {
    this.#stopping = true;
    this.wake();
    await this.#loop;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#batches]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timer);
    return this.#inFlight;
  }
}
