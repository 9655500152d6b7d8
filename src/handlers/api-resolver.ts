import { ValidationError } from '../domain/errors.ts';
import { isTaskId } from '../domain/task-id.ts';
import type { Logger } from '../domain/task-type.ts';
import type { TaskTypeRegistry } from '../domain/task-type-registry.ts';
import type { BlobStore } from '../ports/blob-store.ts';
import type { Clock } from '../ports/clock.ts';
import type { TaskQueue } from '../ports/task-queue.ts';
import type { AtomicEnqueue, TaskFilter, TaskStore } from '../ports/task-store.ts';
import { makeSubmitTasks, type SubmitTaskRequest } from '../use-cases/submit-tasks.ts';
import { makeCancelTask } from '../use-cases/cancel-task.ts';
import { makeRetryTask } from '../use-cases/retry-task.ts';
import { makeGetTask, makeListTasks, makeQueueStats } from '../use-cases/query-tasks.ts';
import { makeCreateUploadUrl, makeTaskOutputs } from '../use-cases/blobs.ts';
import { envelopeFromError, type ResolverEnvelope } from './error-envelope.ts';

/** The payload the APPSYNC_JS resolvers send to the resolver Lambda (see resolvers/lib/lambda.ts). */
export interface ApiResolverEvent {
  info: { parentTypeName: string; fieldName: string };
  arguments: Record<string, unknown>;
  /** The parent object of a nested field (Task.outputs); null for root fields. */
  source?: { id: string; result: string | null } | null;
}

export interface ApiResolverDeps {
  submitTasks: ReturnType<typeof makeSubmitTasks>;
  cancelTask: ReturnType<typeof makeCancelTask>;
  retryTask: ReturnType<typeof makeRetryTask>;
  getTask: ReturnType<typeof makeGetTask>;
  listTasks: ReturnType<typeof makeListTasks>;
  queueStats: ReturnType<typeof makeQueueStats>;
  createUploadUrl: ReturnType<typeof makeCreateUploadUrl>;
  taskOutputs: ReturnType<typeof makeTaskOutputs>;
  logger: Logger;
}

/** The adapters behind the resolver handler's use cases; each entry point passes its own. */
export interface ApiPorts {
  store: TaskStore;
  queue: Pick<TaskQueue, 'send'>;
  /** Task writes and their messages in one transaction, where the store and the queue can share one. */
  atomicEnqueue?: AtomicEnqueue;
  blobs: BlobStore;
  registry: TaskTypeRegistry;
  clock: Clock;
  logger: Logger;
  retentionSeconds: number;
}

/** Every use case the resolver handler serves, over `ports`: the resolver Lambda and the local runtime both wire it so. */
export function apiUseCases(ports: ApiPorts): ApiResolverDeps {
  const { store, queue, atomicEnqueue, blobs, registry, clock, logger, retentionSeconds } = ports;
  const atomic = atomicEnqueue ? { atomic: atomicEnqueue } : {};
  return {
    submitTasks: makeSubmitTasks({ store, queue, ...atomic, registry, clock, logger }),
    cancelTask: makeCancelTask({ store, clock, retentionSeconds }),
    retryTask: makeRetryTask({ store, queue, ...atomic, clock }),
    getTask: makeGetTask({ store, clock }),
    listTasks: makeListTasks({ store }),
    queueStats: makeQueueStats({ store, clock }),
    createUploadUrl: makeCreateUploadUrl({ blobs }),
    taskOutputs: makeTaskOutputs({ blobs }),
    logger,
  };
}

function stringArg(args: Record<string, unknown>, name: string): string {
  const value = args[name];
  if (typeof value !== 'string' || value.length === 0) throw ValidationError.single(name, 'is required');
  return value;
}

/** The same check Query.task's resolver makes, so every field answers a malformed id alike. */
function taskIdArg(args: Record<string, unknown>): string {
  const id = stringArg(args, 'id');
  if (!isTaskId(id))
    throw ValidationError.single('id', `"${id.slice(0, 100)}" is not a task id (a lowercase UUID)`);
  return id;
}

/**
 * The resolver Lambda: one function behind the mutations and the queries that need more than a
 * DynamoDB request. It maps the AppSync field to a use case and every outcome to an envelope.
 *
 * @example
 * export const handler = makeApiResolverHandler(deps); // lambdas/api-resolver.ts
 */
export function makeApiResolverHandler(deps: ApiResolverDeps) {
  const fields: Record<
    string,
    (args: Record<string, unknown>, source: ApiResolverEvent['source']) => Promise<unknown>
  > = {
    'Mutation.submitTask': async (args) => {
      const [task] = await deps.submitTasks([args['input'] as SubmitTaskRequest], 'input', () => 'input');
      return task;
    },
    'Mutation.submitTasks': (args) => {
      const inputs = args['inputs'];
      if (!Array.isArray(inputs)) throw ValidationError.single('inputs', 'must be a list');
      return deps.submitTasks(inputs as SubmitTaskRequest[], 'inputs', (i) => `inputs[${i}]`);
    },
    'Mutation.cancelTask': (args) => deps.cancelTask(taskIdArg(args)),
    'Mutation.retryTask': (args) => deps.retryTask(taskIdArg(args)),
    'Query.task': (args) => deps.getTask(taskIdArg(args)),
    'Query.tasks': (args) =>
      deps.listTasks(
        args['filter'] as TaskFilter | null,
        args['limit'] as number | null,
        args['nextToken'] as string | null,
      ),
    'Query.queueStats': () => deps.queueStats(),
    'Mutation.createUploadUrl': (args) =>
      deps.createUploadUrl(args['contentType'] as string, args['fileName'] as string | null),
    'Task.outputs': async (_args, source) => (source ? deps.taskOutputs(source) : null),
  };

  return async function handler(event: ApiResolverEvent): Promise<ResolverEnvelope> {
    const key = `${event.info.parentTypeName}.${event.info.fieldName}`;
    const resolve = fields[key];
    try {
      if (!resolve) throw new Error(`the resolver Lambda has no resolver for ${key}`);
      return { data: await resolve(event.arguments ?? {}, event.source ?? null) };
    } catch (error) {
      return envelopeFromError(error, deps.logger);
    }
  };
}
