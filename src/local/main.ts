// `npm start`: the local runtime. Reads .env (if present) and the environment, starts, prints where
// to go, and shuts down gracefully on SIGINT/SIGTERM.
import { existsSync } from 'node:fs';
import { loadLocalConfig } from '../config/local-config.ts';

if (existsSync('.env')) process.loadEnvFile('.env');
// Production unless told otherwise: graphql-js then skips a development check it makes on every
// failed instanceof (looking for a second copy of itself), about a tenth of each execution here.
// It reads NODE_ENV once, when it loads, so the runtime is imported only after this line.
process.env['NODE_ENV'] ??= 'production';
const { startLocalRuntime } = await import('./runtime.ts');

async function main(): Promise<void> {
  const config = loadLocalConfig(process.env);
  const runtime = await startLocalRuntime(config);
  const lines = [
    '',
    '  Task queue is running (local runtime)',
    `  GraphQL:   ${runtime.url}`,
    `  GraphiQL:  ${runtime.url}  (open in a browser)`,
    `  WebSocket: ${runtime.wsUrl}  (graphql-transport-ws)`,
    `  API key:   ${runtime.apiKey}  (send as x-api-key)`,
    `  Data:      ${runtime.dataDir}`,
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  let signals = 0;
  const shutdown = (signal: string) => {
    signals += 1;
    if (signals > 1) {
      process.stderr.write(`${signal} again: exiting now; running tasks are released on the next start.\n`);
      process.exit(130);
    }
    process.stderr.write(
      `${signal}: finishing running tasks (up to ${config.SHUTDOWN_GRACE_SECONDS} s), then stopping.\n`,
    );
    runtime.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`shutdown failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`Cannot start: ${message}\n`);
  process.exit(1);
});
