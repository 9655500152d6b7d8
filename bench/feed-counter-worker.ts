// The engine benchmark's publisher thread: the change feed pump in a thread of its own, as `npm start`
// runs it (src/local/publisher-worker.ts), with a publisher that hands the SUCCEEDED updates to the
// API thread instead of running publishTaskUpdate: the engine measurement leaves GraphQL out. It
// answers the same messages as the runtime's publisher thread (servePublisherThread), so
// PublisherThread drives it.
import { parentPort, workerData } from 'node:worker_threads';
import { makeConsoleLogger } from '../src/adapters/local/console-logger.ts';
import { SqliteChangeFeed } from '../src/adapters/sqlite/sqlite-change-feed.ts';
import { SqliteDatabase } from '../src/adapters/sqlite/sqlite-database.ts';
import { makePublishUpdatesHandler } from '../src/handlers/publish-updates.ts';
import { ChangeFeedPump } from '../src/local/change-feed-pump.ts';
import {
  servePublisherThread,
  type PublisherThreadData,
  type PublisherThreadMessage,
} from '../src/local/publisher-thread.ts';

const data = workerData as PublisherThreadData;
const port = parentPort!;
const silent = makeConsoleLogger('silent');
const db = new SqliteDatabase(data.databasePath, { durability: data.durability, autoCheckpoint: false });
const pump = new ChangeFeedPump({
  feed: new SqliteChangeFeed(db),
  logger: silent,
  handler: makePublishUpdatesHandler({
    logger: silent,
    publisher: {
      publish: async (update) => {
        if (update.status !== 'SUCCEEDED') return;
        port.postMessage({
          type: 'event',
          mutation: 'publishTaskUpdate',
          event: { id: update.id, status: update.status },
        } satisfies PublisherThreadMessage);
      },
    },
  }),
});

// Completions are few enough to need no flow control here, so delivery counts are not kept.
servePublisherThread(port, { pump, db });
