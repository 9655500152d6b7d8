// Entry point of the WAL checkpointer thread (see checkpointer.ts). Talks to the API thread by messages:
// in: { type: 'stop' }; out: { type: 'ready' } | { type: 'error', error } | { type: 'warning', message }.
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteDatabase, type Durability } from '../adapters/sqlite/sqlite-database.ts';
import { checkpointEvery } from './checkpointer.ts';

const data = workerData as { databasePath: string; durability: Durability; everyMs: number };
const port = parentPort!;
const db = new SqliteDatabase(data.databasePath, { durability: data.durability, autoCheckpoint: false });
const loop = checkpointEvery(db, data.everyMs, {
  onError: (error) => port.postMessage({ type: 'error', error: error.message }),
  onWarning: (message) => port.postMessage({ type: 'warning', message }),
});

port.on('message', (message: { type: string }) => {
  if (message.type !== 'stop') return;
  loop.stop();
  db.close();
  port.close();
});
port.postMessage({ type: 'ready' });
