import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  CreateTableCommand,
  UpdateTimeToLiveCommand,
  type AttributeDefinition,
  type CreateTableCommandInput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { TASK_INDEXES } from '../../src/adapters/dynamodb/task-item.ts';
import { pidAlive } from '../../src/local/pid-alive.ts';

/**
 * AWS's DynamoDB Local, run from the copy the npm package amplify-dynamodb-simulator ships in its
 * `emulator/` folder (the npm registry is the one place this project may download from). Only the
 * tarball is fetched, with `npm pack`; nothing is installed.
 */
export const DYNAMODB_LOCAL_PACKAGE = 'amplify-dynamodb-simulator@2.9.30';

const JAVA_REQUIRED =
  'Java 17+ is required for the DynamoDB Local tests (apt-get install openjdk-17-jre-headless)';
const LAUNCHER_CLASS = 'LoopbackDynamoDBLocal';
const LAUNCHER_SOURCE = join(dirname(fileURLToPath(import.meta.url)), `${LAUNCHER_CLASS}.java`);
const READY_LINE = /LoopbackDynamoDBLocal listening on (http:\/\/127\.0\.0\.1:\d+)/;
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 5_000;
/** The JVM settles for quick start-up over peak speed: C1 only, one GC thread. */
const JVM_OPTIONS = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-Xmx512m'];

const run = promisify(execFile);

export interface DynamoDbLocal {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  /** Ends the emulator and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
  /** What this start took, in ms: download and compile are null when the cache had them. */
  timings: { downloadMs: number | null; compileMs: number | null; launchMs: number };
}

/** The SDK client settings tests use against DynamoDB Local. */
export function localClientConfig(endpoint: string): {
  region: string;
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
} {
  return { region: 'us-east-1', endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
}

/** The attribute DynamoDB's TTL reads (epoch seconds), as taskToItem writes it. */
export const TASKS_TABLE_TTL_ATTRIBUTE = 'ttl';

/**
 * The tasks table as the CDK stack defines it: on-demand, keyed by `id`, a NEW_IMAGE stream for the
 * update publisher, and one GSI per entry of TASK_INDEXES (string keys, all attributes projected).
 */
export function tasksTableDefinition(tableName: string): CreateTableCommandInput {
  const keyAttributes = new Set<string>(['id']);
  for (const { partitionKey, sortKey } of Object.values(TASK_INDEXES)) {
    keyAttributes.add(partitionKey);
    keyAttributes.add(sortKey);
  }
  const attributeDefinitions: AttributeDefinition[] = [...keyAttributes].map((name) => ({
    AttributeName: name,
    AttributeType: 'S',
  }));
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    AttributeDefinitions: attributeDefinitions,
    StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' },
    GlobalSecondaryIndexes: Object.entries(TASK_INDEXES).map(([indexName, { partitionKey, sortKey }]) => ({
      IndexName: indexName,
      KeySchema: [
        { AttributeName: partitionKey, KeyType: 'HASH' },
        { AttributeName: sortKey, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    })),
  };
}

/** Creates the tasks table (see tasksTableDefinition) with TTL on `ttl`. DynamoDB Local makes it ACTIVE at once. */
export async function createTasksTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await client.send(new CreateTableCommand(tasksTableDefinition(tableName)));
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: TASKS_TABLE_TTL_ATTRIBUTE, Enabled: true },
    }),
  );
}

function cacheRoot(): string {
  const xdg = process.env['XDG_CACHE_HOME'];
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache'), 'graphql-task-queue');
}

function onPath(command: string): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Removes `.partial-<pid>-*` folders left by runs that were killed mid-download or mid-compile. */
function removeAbandonedPartials(dir: string): void {
  for (const name of readdirSync(dir)) {
    const pid = /^\.partial-(\d+)-/.exec(name)?.[1];
    if (pid && !pidAlive(Number(pid))) rmSync(join(dir, name), { recursive: true, force: true });
  }
}

/**
 * Moves a finished `partial` folder to `target` in one rename, so the cache never holds half a
 * download. Losing a race to another run that renamed first is fine: its copy is just as good.
 */
async function publish(partial: string, target: string): Promise<void> {
  try {
    await rename(partial, target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if ((code === 'ENOTEMPTY' || code === 'EEXIST') && existsSync(target)) return;
    throw error;
  }
}

/** What a start had to do before the emulator could run, and how long each took (ms). */
export interface PreparedEmulator {
  emulatorDir: string;
  /** The folder holding the compiled launcher, or null to run the launcher from source (no javac). */
  launcherDir: string | null;
  downloadMs: number | null;
  compileMs: number | null;
}

/** The emulator folder in the cache, downloaded and unpacked on first use. */
async function ensureEmulator(): Promise<{ dir: string; downloadMs: number | null }> {
  const root = cacheRoot();
  const dir = join(root, `dynamodb-local-${DYNAMODB_LOCAL_PACKAGE.split('@').pop()}`);
  if (existsSync(join(dir, 'DynamoDBLocal.jar'))) return { dir, downloadMs: null };
  const started = performance.now();
  await mkdir(root, { recursive: true });
  removeAbandonedPartials(root);
  const partial = await mkdtemp(join(root, `.partial-${process.pid}-`));
  try {
    await run('npm', ['pack', DYNAMODB_LOCAL_PACKAGE, '--pack-destination', partial, '--silent'], {
      maxBuffer: 16 * 1024 * 1024,
    });
    const tarball = (await readdir(partial)).find((name) => name.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack ${DYNAMODB_LOCAL_PACKAGE} left no tarball in ${partial}`);
    await run('tar', ['-xzf', join(partial, tarball), '-C', partial, 'package/emulator']);
    const unpacked = join(partial, 'package', 'emulator');
    if (!existsSync(join(unpacked, 'DynamoDBLocal.jar'))) {
      throw new Error(`${DYNAMODB_LOCAL_PACKAGE} has no emulator/DynamoDBLocal.jar`);
    }
    await publish(unpacked, dir);
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
  return { dir, downloadMs: performance.now() - started };
}

/**
 * The launcher compiled into the cache, in a folder named after its source's hash so an edited
 * launcher is compiled anew. Without javac (a JRE only) the launcher runs from source instead,
 * which Java 11+ can do at the cost of compiling it on every start.
 */
async function ensureLauncher(
  emulatorDir: string,
): Promise<{ dir: string | null; compileMs: number | null }> {
  const source = await readFile(LAUNCHER_SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const dir = join(emulatorDir, `launcher-${hash}`);
  if (existsSync(join(dir, `${LAUNCHER_CLASS}.class`))) return { dir, compileMs: null };
  if (!onPath('javac')) return { dir: null, compileMs: null };
  const started = performance.now();
  removeAbandonedPartials(emulatorDir);
  const partial = await mkdtemp(join(emulatorDir, `.partial-${process.pid}-`));
  try {
    await run('javac', [
      // Quick start-up for a one-off compile; no annotation processors to look for.
      '-J-XX:TieredStopAtLevel=1',
      '-J-XX:+UseSerialGC',
      '-proc:none',
      '--release',
      '17',
      '-d',
      partial,
      '-cp',
      join(emulatorDir, 'DynamoDBLocal.jar'),
      LAUNCHER_SOURCE,
    ]).catch((error: unknown) => {
      const stderr = String((error as { stderr?: unknown }).stderr ?? '');
      if (/release version 17 not supported|invalid target release/.test(stderr)) {
        throw new Error(JAVA_REQUIRED, { cause: error });
      }
      throw new Error(`javac failed on ${LAUNCHER_SOURCE}:\n${stderr}`, { cause: error });
    });
    await publish(partial, dir);
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
  return { dir, compileMs: performance.now() - started };
}

/** Downloads and compiles what is missing from the cache. */
export async function prepareDynamoDbLocal(): Promise<PreparedEmulator> {
  // Checked first, so a machine without Java is told so before a 56 MB download.
  if (!onPath('java')) throw new Error(JAVA_REQUIRED);
  const emulator = await ensureEmulator();
  const launcher = await ensureLauncher(emulator.dir);
  return {
    emulatorDir: emulator.dir,
    launcherDir: launcher.dir,
    downloadMs: emulator.downloadMs,
    compileMs: launcher.compileMs,
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not pick a free port'));
      });
    });
  });
}

class PortTakenError extends Error {}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

type Launched = Omit<DynamoDbLocal, 'timings'>;

function launch(prepared: PreparedEmulator, port: number): Promise<Launched> {
  const jar = join(prepared.emulatorDir, 'DynamoDBLocal.jar');
  const main = prepared.launcherDir
    ? ['-cp', `${jar}${delimiter}${prepared.launcherDir}`, LAUNCHER_CLASS]
    : ['-cp', jar, LAUNCHER_SOURCE];
  const child = spawn(
    'java',
    [
      ...JVM_OPTIONS,
      `-Djava.library.path=${join(prepared.emulatorDir, 'DynamoDBLocal_lib')}`,
      ...main,
      '-inMemory',
      '-port',
      String(port),
      '-disableTelemetry',
    ],
    {
      // -disableTelemetry only stops sending; DDB_LOCAL_TELEMETRY=0 also skips building the telemetry
      // clients, which takes seconds of start-up.
      env: { ...process.env, DDB_LOCAL_TELEMETRY: '0' },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  // The last lines it printed, for error messages. Reading both streams also keeps their pipes from
  // filling up and blocking the emulator.
  const output: string[] = [];
  const keep = (chunk: Buffer): void => {
    output.push(...chunk.toString('utf8').split('\n'));
    output.splice(0, Math.max(0, output.length - 60));
  };
  child.stderr.on('data', keep);
  // Closing stdin is how stop() asks it to exit; a pipe already gone then is no error.
  child.stdin.on('error', () => {});

  const stop = async (): Promise<void> => {
    // The launcher exits when its standard input closes; SIGKILL only if it does not.
    child.stdin.end();
    if (await waitForExit(child, STOP_TIMEOUT_MS)) return;
    child.kill('SIGKILL');
    await waitForExit(child, STOP_TIMEOUT_MS);
  };

  return new Promise((resolve, reject) => {
    let pending = '';
    const fail = (error: Error): void => {
      clearTimeout(timer);
      void stop();
      reject(error);
    };
    const timer = setTimeout(
      () =>
        fail(new Error(`DynamoDB Local did not start within ${START_TIMEOUT_MS} ms:\n${output.join('\n')}`)),
      START_TIMEOUT_MS,
    );
    const onStdout = (chunk: Buffer): void => {
      keep(chunk);
      pending += chunk.toString('utf8');
      const endpoint = READY_LINE.exec(pending)?.[1];
      if (!endpoint) {
        pending = pending.slice(-200);
        return;
      }
      clearTimeout(timer);
      child.stdout.off('data', onStdout).on('data', keep);
      child.off('exit', onEarlyExit);
      resolve({ endpoint, stop });
    };
    const onEarlyExit = (code: number | null, signal: string | null): void => {
      clearTimeout(timer);
      const text = output.join('\n');
      if (/BindException|Address already in use/.test(text)) {
        reject(new PortTakenError(`port ${port} is taken`));
      } else if (/UnsupportedClassVersionError/.test(text)) {
        reject(new Error(`${JAVA_REQUIRED}\n${text}`));
      } else {
        reject(new Error(`DynamoDB Local exited (${signal ?? code}) before it was ready:\n${text}`));
      }
    };
    child.stdout.on('data', onStdout);
    child.once('exit', onEarlyExit);
    child.once('error', (error: NodeJS.ErrnoException) =>
      fail(error.code === 'ENOENT' ? new Error(JAVA_REQUIRED, { cause: error }) : error),
    );
  });
}

/**
 * Starts DynamoDB Local in memory on a free port of 127.0.0.1 (never on other interfaces: see
 * LoopbackDynamoDBLocal.java). The first call downloads the emulator (about 56 MB) and compiles the
 * launcher into ${XDG_CACHE_HOME:-~/.cache}/graphql-task-queue/; later calls reuse them.
 */
export async function startDynamoDbLocal(): Promise<DynamoDbLocal> {
  const prepared = await prepareDynamoDbLocal();
  const started = performance.now();
  for (let attempt = 1; ; attempt++) {
    try {
      const launched = await launch(prepared, await freePort());
      const { downloadMs, compileMs } = prepared;
      return { ...launched, timings: { downloadMs, compileMs, launchMs: performance.now() - started } };
    } catch (error) {
      // Another process took the port between freePort and the bind: try another one.
      if (!(error instanceof PortTakenError) || attempt >= 3) throw error;
    }
  }
}
