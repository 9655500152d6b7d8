import { Worker, type MessagePort } from 'node:worker_threads';
import type { Durability, SqliteDatabase } from '../adapters/sqlite/sqlite-database.ts';
import type { LocalConfig } from '../config/local-config.ts';
import type {
  PublishedEvent,
  SubscriberSpec,
  SubscribersChange,
  SubscriptionHub,
} from '../appsync/subscription-hub.ts';
import { coerceError } from '../domain/errors.ts';
import type { Logger } from '../domain/task-type.ts';
import type { ChangeFeedPump } from './change-feed-pump.ts';
import { oncePerTurn } from './once-per-turn.ts';

/** Longest a new subscription waits for the publisher thread to take it before it starts anyway. */
export const MIRROR_WAIT_MS = 5000;

/** Longest the publisher thread gets to publish what the feed holds when the runtime stops. */
const STOP_WAIT_MS = 5000;

/** Events the publisher thread may have sent that this thread has not yet handed to the hub. */
export const MAX_EVENTS_IN_FLIGHT = 1000;

/** Longest wait between restarts of a thread that keeps ending; the wait doubles up to it. */
const MAX_RESTART_WAIT_MS = 30_000;
/** A thread that ran this long resets the restart wait. */
const HEALTHY_AFTER_MS = 60_000;

/** What a publisher thread starts from (its workerData). */
export interface PublisherThreadData {
  databasePath: string;
  durability: Durability;
  logLevel: LocalConfig['LOG_LEVEL'];
  repoRoot: string;
  /** The API thread's subscribers when the thread starts; later changes come as messages. */
  subscribers: SubscriberSpec[];
}

/** What a publisher thread sends the API thread. */
export type PublisherThreadMessage =
  | { type: 'ready' }
  | { type: 'event'; mutation: string; event: PublishedEvent }
  | { type: 'applied'; seq: number }
  | { type: 'stopped' };

/** What the API thread sends a publisher thread. */
export type PublisherThreadCommand =
  | { type: 'poke' }
  | { type: 'subscribers'; change: SubscribersChange; seq?: number }
  /** This many more events were handed to the hub (they no longer count as in flight). */
  | { type: 'delivered'; count: number }
  | { type: 'stop' };

/**
 * The side of a publisher thread's entry (the runtime's, or a benchmark's) that talks to
 * PublisherThread: pokes reach the pump, subscriber changes and delivery counts reach the given
 * functions (a subscriber added is answered once `subscribers` returns), and a stop publishes what
 * the feed holds, closes the database and says so. Says it is ready, and starts the pump.
 */
export function servePublisherThread(
  port: MessagePort,
  thread: {
    pump: ChangeFeedPump;
    db: SqliteDatabase;
    subscribers?: (change: SubscribersChange) => void;
    delivered?: (count: number) => void;
  },
): void {
  const post = (message: PublisherThreadMessage) => port.postMessage(message);
  port.on('message', (command: PublisherThreadCommand) => {
    if (command.type === 'poke') thread.pump.poke();
    else if (command.type === 'subscribers') {
      thread.subscribers?.(command.change);
      if (command.seq !== undefined) post({ type: 'applied', seq: command.seq });
    } else if (command.type === 'delivered') thread.delivered?.(command.count);
    else if (command.type === 'stop') {
      void thread.pump
        .stop()
        .finally(() => thread.db.close())
        .then(() => post({ type: 'stopped' }));
    }
  });
  thread.pump.poke();
  post({ type: 'ready' });
}

export interface PublisherThreadOptions {
  databasePath: string;
  durability: Durability;
  logLevel: LocalConfig['LOG_LEVEL'];
  repoRoot: string;
  /** The API thread's hub: events are delivered to it, and its subscribers are mirrored. */
  hub: SubscriptionHub;
  logger: Logger;
  /** Longest a new subscription waits for the thread to take it (MIRROR_WAIT_MS by default). */
  mirrorWaitMs?: number;
  /** First wait before starting another thread after one ended unexpectedly (1 s by default). */
  restartAfterMs?: number;
  /** The thread's entry point; tests give another. */
  workerUrl?: URL;
}

/**
 * The change feed and the publisher, run in a thread of their own, as on AWS the stream's publisher
 * Lambda runs beside AppSync: running publishTaskUpdate for each update (GraphQL execution and the
 * resolver) was about a third of the API thread's time, and now runs beside it. The thread has its
 * own database connection and LocalAppSync (same schema and resolvers); the events it publishes come
 * back here, where the subscriptions are, at most MAX_EVENTS_IN_FLIGHT at a time. It keeps a mirror
 * of this thread's subscribers to skip the updates nobody would receive; a subscription is answered
 * only once the mirror has it, so an update committed after that is judged with it.
 *
 * If the thread ends unexpectedly, another starts, after a wait that doubles while threads keep
 * ending. It reads the feed from the first change not yet deleted, so changes published in the last
 * quarter second or so are published again, which at-least-once allows; none is lost, since changes
 * stay in the database until published.
 */
export class PublisherThread {
  readonly #options: PublisherThreadOptions;
  #worker: Worker | undefined;
  #seq = 0;
  readonly #applied = new Map<number, () => void>();
  #delivered = 0;
  #stopping: Promise<void> | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #restarts = 0;
  readonly #firstRestartWaitMs: number;
  #restartWaitMs: number;

  private constructor(options: PublisherThreadOptions) {
    this.#options = options;
    this.#firstRestartWaitMs = options.restartAfterMs ?? 1000;
    this.#restartWaitMs = this.#firstRestartWaitMs;
  }

  /** Starts the thread; resolves once it is ready, rejects (and starts no other) if it fails to start. */
  static async start(options: PublisherThreadOptions): Promise<PublisherThread> {
    const thread = new PublisherThread(options);
    options.hub.onSubscribersChange((change) => thread.#tell(change));
    const worker = thread.#spawn();
    try {
      await new Promise<void>((resolve, reject) => {
        const onMessage = (message: PublisherThreadMessage) => {
          if (message.type !== 'ready') return;
          worker.off('message', onMessage);
          worker.off('error', reject);
          worker.off('exit', onExit);
          resolve();
        };
        const onExit = (code: number) =>
          reject(new Error(`the publisher thread exited (code ${code}) while starting`));
        worker.on('message', onMessage);
        worker.once('error', reject);
        worker.once('exit', onExit);
      });
    } catch (error) {
      thread.#stopping = Promise.resolve();
      await worker.terminate();
      throw error;
    }
    return thread;
  }

  /** How many times the thread was started again after ending unexpectedly. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Something committed: the thread reads the change feed soon. Cheap to call often. */
  readonly poke: () => void = oncePerTurn(() => this.#post({ type: 'poke' }));

  /**
   * Has the thread publish what the feed holds (changes committed meanwhile included), then ends it;
   * after STOP_WAIT_MS it is ended anyway, and what it had not published stays for the next start.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      clearTimeout(this.#restartTimer);
      const worker = this.#worker;
      if (!worker) return;
      await new Promise<void>((resolve) => {
        worker.on('message', (message: PublisherThreadMessage) => {
          if (message.type === 'stopped') void worker.terminate();
        });
        const timer = setTimeout(() => {
          this.#options.logger.warn('the publisher thread did not stop in time; ending it', {
            waitedMs: STOP_WAIT_MS,
          });
          void worker.terminate();
        }, STOP_WAIT_MS);
        worker.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        this.#post({ type: 'stop' });
      });
    })();
    return this.#stopping;
  }

  #post(command: PublisherThreadCommand): void {
    this.#worker?.postMessage(command);
  }

  #spawn(): Worker {
    const options = this.#options;
    const data: PublisherThreadData = {
      databasePath: options.databasePath,
      durability: options.durability,
      logLevel: options.logLevel,
      repoRoot: options.repoRoot,
      // Taken now: subscribers added from here on reach the new thread as messages.
      subscribers: options.hub.specs(),
    };
    const worker = new Worker(options.workerUrl ?? new URL('./publisher-worker.ts', import.meta.url), {
      workerData: data,
    });
    this.#worker = worker;
    const startedAt = Date.now();
    let ready = false;
    worker.on('message', (message: PublisherThreadMessage) => {
      if (message.type === 'ready') ready = true;
      else if (message.type === 'event') this.#deliver(message.mutation, message.event);
      else if (message.type === 'applied') {
        this.#applied.get(message.seq)?.();
        this.#applied.delete(message.seq);
      }
    });
    worker.on('error', (error) => options.logger.error('publisher thread failed', { error: String(error) }));
    worker.once('exit', (code) => {
      if (this.#worker === worker) this.#worker = undefined;
      // Whatever it was told is in the next thread's starting list, and no one waits for a dead thread.
      for (const resolve of this.#applied.values()) resolve();
      this.#applied.clear();
      this.#delivered = 0;
      // A thread that never got ready is start()'s failure to report, not one to replace.
      if (this.#stopping || !ready) return;
      if (Date.now() - startedAt >= HEALTHY_AFTER_MS) this.#restartWaitMs = this.#firstRestartWaitMs;
      const waitMs = this.#restartWaitMs;
      this.#restartWaitMs = Math.min(MAX_RESTART_WAIT_MS, waitMs * 2);
      options.logger.error('the publisher thread ended unexpectedly; starting another', { code, waitMs });
      this.#restartTimer = setTimeout(() => {
        if (this.#stopping) return;
        this.#restarts += 1;
        this.#spawn();
        this.poke();
      }, waitMs);
    });
    return worker;
  }

  /** Hands an event to the hub, and tells the thread (once per turn of the loop) how many it got. */
  #deliver(mutation: string, event: PublishedEvent): void {
    try {
      this.#options.hub.publish(mutation, event);
    } catch (error) {
      this.#options.logger.error('delivering a published event failed', {
        error: coerceError(error).message,
      });
    }
    if (this.#delivered++ === 0) {
      setImmediate(() => {
        const count = this.#delivered;
        this.#delivered = 0;
        if (count > 0) this.#post({ type: 'delivered', count });
      });
    }
  }

  #tell(change: SubscribersChange): Promise<void> | undefined {
    const worker = this.#worker;
    // No thread at the moment: the next one starts with every subscriber there is then.
    if (!worker) return undefined;
    // A subscriber gone needs no answer: nobody waits on it.
    if (!('added' in change)) {
      this.#post({ type: 'subscribers', change });
      return undefined;
    }
    const seq = ++this.#seq;
    const waitMs = this.#options.mirrorWaitMs ?? MIRROR_WAIT_MS;
    const applied = new Promise<void>((resolve) => {
      // A thread that does not answer must not hold subscriptions up for ever; it is reported.
      const timer = setTimeout(() => {
        this.#applied.delete(seq);
        this.#options.logger.warn(
          'the publisher thread did not take a subscriber in time; it may miss the next updates',
          { waitedMs: waitMs },
        );
        resolve();
      }, waitMs);
      this.#applied.set(seq, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.#post({ type: 'subscribers', seq, change });
    return applied;
  }
}
