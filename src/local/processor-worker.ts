// Entry point of a processor worker thread (see processor.ts). Talks to the API thread by messages:
// in: { type: 'wake' } | { type: 'start' } | { type: 'stop', graceMs };
// out: { type: 'ready' } | { type: 'committed' } | { type: 'stopped', left }.
// It starts polling at once, or on { type: 'start' } when workerData.startPaused is set.
import { parentPort, workerData } from 'node:worker_threads';
import type { LocalConfig } from '../config/local-config.ts';
import { oncePerTurn } from './once-per-turn.ts';
import { makeProcessor } from './processor.ts';

const data = workerData as {
  config: LocalConfig;
  databasePath: string;
  dataDir: string;
  name: string;
  startPaused?: boolean;
};
const port = parentPort!;

const processor = makeProcessor({
  config: data.config,
  databasePath: data.databasePath,
  dataDir: data.dataDir,
  name: data.name,
  // One message per turn of the loop is enough to wake the change feed.
  onCommit: oncePerTurn(() => port.postMessage({ type: 'committed' })),
});

port.on('message', (message: { type: 'wake' } | { type: 'start' } | { type: 'stop'; graceMs: number }) => {
  if (message.type === 'wake') processor.wake();
  else if (message.type === 'start') processor.start();
  else if (message.type === 'stop') {
    void processor.stop(message.graceMs).then((left) => {
      port.postMessage({ type: 'stopped', left });
    });
  }
});

if (!data.startPaused) processor.start();
port.postMessage({ type: 'ready' });
