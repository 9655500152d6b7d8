import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { DataSource } from '../../appsync/local-appsync.ts';
import { coerceError } from '../../domain/errors.ts';
import type { Task } from '../../domain/task.ts';
import { taskToItem } from '../dynamodb/task-item.ts';

/**
 * A Lambda data source that calls a handler in-process. A thrown error reaches the resolver as
 * `ctx.error` with type Lambda:Unhandled, as AppSync reports an unhandled Lambda error.
 */
export function lambdaDataSource(handler: (payload: unknown) => Promise<unknown>): DataSource {
  return async (request) => {
    const r = request as { operation?: string; payload?: unknown };
    if (r?.operation !== 'Invoke' && r?.operation !== 'BatchInvoke') {
      return {
        error: {
          message: `Lambda data source: unsupported operation ${String(r?.operation)}`,
          type: 'Lambda:Request',
        },
      };
    }
    try {
      return { result: await handler(r.payload ?? null) };
    } catch (error) {
      return { error: { message: coerceError(error).message, type: 'Lambda:Unhandled' } };
    }
  };
}

/**
 * The tasks table as a DynamoDB data source over the local store. It runs the request objects the
 * resolvers build: GetItem on the `id` key, answered with the same item shape DynamoDB stores. Any
 * other operation is refused with a clear error rather than emulated halfway.
 */
export function tasksTableDataSource(getTask: (id: string) => Promise<Task | null>): DataSource {
  return async (request) => {
    const r = request as { operation?: string; key?: Record<string, AttributeValue> };
    if (r?.operation !== 'GetItem') {
      return {
        error: {
          message: `The local tasks table runs GetItem only; ${String(r?.operation)} is not emulated. Serve the field from the resolver Lambda or add it here with a test against DynamoDB Local.`,
          type: 'DynamoDB:UnsupportedOperation',
        },
      };
    }
    const key = unmarshall(r.key ?? {});
    if (Object.keys(key).length !== 1 || typeof key['id'] !== 'string') {
      return {
        error: {
          message: 'The provided key element does not match the schema',
          type: 'DynamoDB:ValidationException',
        },
      };
    }
    const task = await getTask(key['id']);
    return { result: task ? taskToItem(task) : null };
  };
}
