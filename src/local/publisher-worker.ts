// Entry point of the publisher thread (see publisher-thread.ts): the change feed and the
// publish-updates handler, with a LocalAppSync of its own that runs publishTaskUpdate. The events it
// publishes go to the API thread, which holds the subscriptions; a mirror of those subscribers tells
// it which updates would reach nobody. Talks to the API thread by messages:
// in: PublisherThreadCommand (poke, subscribers, delivered, stop); out: PublisherThreadMessage (ready,
// event, applied, stopped). At most MAX_EVENTS_IN_FLIGHT events are on their way at a time: past
// that, publishing waits for the API thread to say it has delivered some.
import { parentPort, workerData } from 'node:worker_threads';
import { LocalAppSync } from '../appsync/local-appsync.ts';
import { MirroredSubscriptionHub } from '../appsync/subscription-hub.ts';
import { makeConsoleLogger } from '../adapters/local/console-logger.ts';
import { InProcessUpdatePublisher } from '../adapters/local/in-process-update-publisher.ts';
import { SqliteChangeFeed } from '../adapters/sqlite/sqlite-change-feed.ts';
import { SqliteDatabase } from '../adapters/sqlite/sqlite-database.ts';
import { makePublishUpdatesHandler } from '../handlers/publish-updates.ts';
import { ChangeFeedPump } from './change-feed-pump.ts';
import {
  MAX_EVENTS_IN_FLIGHT,
  servePublisherThread,
  type PublisherThreadData,
  type PublisherThreadMessage,
} from './publisher-thread.ts';

const data = workerData as PublisherThreadData;
const port = parentPort!;
const logger = makeConsoleLogger(data.logLevel, { fields: { component: 'publisher' } });

let inFlight = 0;
let room: (() => void) | undefined;
const hub = new MirroredSubscriptionHub((mutation, event) => {
  inFlight += 1;
  port.postMessage({ type: 'event', mutation, event } satisfies PublisherThreadMessage);
});
for (const added of data.subscribers) hub.apply({ added });

// publishTaskUpdate runs on a NONE data source. Anything that would reach a real one from here (a
// field with its own resolver added to the publish document, say) fails with this error.
const noDataSource = (name: string) => async () => ({
  error: {
    message: `the publisher thread runs publishTaskUpdate only and has no ${name} data source`,
    type: 'PublisherThreadError',
  },
});

const db = new SqliteDatabase(data.databasePath, { durability: data.durability, autoCheckpoint: false });
const appsync = await LocalAppSync.create({
  repoRoot: data.repoRoot,
  logger,
  dataSources: { API_LAMBDA: noDataSource('API_LAMBDA'), TASKS_TABLE: noDataSource('TASKS_TABLE') },
  hub,
});
const inProcess = new InProcessUpdatePublisher(appsync);
const pump = new ChangeFeedPump({
  feed: new SqliteChangeFeed(db),
  handler: makePublishUpdatesHandler({
    publisher: {
      async publish(update) {
        while (inFlight >= MAX_EVENTS_IN_FLIGHT) await new Promise<void>((resolve) => (room = resolve));
        await inProcess.publish(update);
      },
    },
    logger,
  }),
  logger,
});

servePublisherThread(port, {
  pump,
  db,
  subscribers: (change) => hub.apply(change),
  delivered: (count) => {
    inFlight = Math.max(0, inFlight - count);
    if (inFlight < MAX_EVENTS_IN_FLIGHT && room) {
      const resume = room;
      room = undefined;
      resume();
    }
  },
});
