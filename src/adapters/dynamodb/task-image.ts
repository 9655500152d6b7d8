import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Task } from '../../domain/task.ts';
import { TASK_ENTITY, taskFromItem, taskToItem } from './task-item.ts';

/**
 * Task items in DynamoDB's attribute-value form (stream images), both ways. A task item holds only
 * strings, numbers, booleans, nulls and one small map, so these do what `marshall` and `unmarshall`
 * of @aws-sdk/util-dynamodb do for it at a fraction of their cost (they were a third of the local
 * runtime's API thread under load, converting every change twice). Anything else in an image (a
 * set, binary) goes to `unmarshall`, so a foreign attribute never breaks reading a task.
 */

type Plain = string | number | boolean | null | Plain[] | { [key: string]: Plain | undefined };

function toAttribute(value: Plain): AttributeValue {
  if (value === null) return { NULL: true };
  switch (typeof value) {
    case 'string':
      return { S: value };
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${value} cannot be stored as a DynamoDB number`);
      return { N: String(value) };
    case 'boolean':
      return { BOOL: value };
    default:
      return Array.isArray(value) ? { L: value.map(toAttribute) } : { M: toAttributeMap(value) };
  }
}

function toAttributeMap(value: { [key: string]: Plain | undefined }): Record<string, AttributeValue> {
  const map: Record<string, AttributeValue> = {};
  for (const key in value) {
    const v = value[key];
    if (v !== undefined) map[key] = toAttribute(v);
  }
  return map;
}

/**
 * Images this process made, and the task each was made from: the local change feed makes an image
 * for every change and the publisher reads it straight back, so reading one of these skips the
 * conversion. Images are data to read: nothing changes one after it is made.
 */
const made = new WeakMap<object, Task>();

/** The task's item (see taskToItem) as a stream image; undefined attributes are left out. */
export function taskToImage(task: Task): Record<string, AttributeValue> {
  const image = toAttributeMap(taskToItem(task) as unknown as { [key: string]: Plain });
  made.set(image, task);
  return image;
}

/** Answers, on a lazy image only, with the task the image stands for (without filling it in). */
const TASK_OF = Symbol('task of a lazy image');

const TRAPS = [
  'get',
  'set',
  'has',
  'ownKeys',
  'getOwnPropertyDescriptor',
  'defineProperty',
  'deleteProperty',
  'getPrototypeOf',
  'setPrototypeOf',
  'isExtensible',
  'preventExtensions',
] as const;

/**
 * The handler of one lazy image: every operation first fills the (empty) target in with the task's
 * attributes, once, then acts on it. Asking for TASK_OF gives the task and fills nothing.
 */
class LazyImage {
  readonly task: Task;
  #filled = false;

  constructor(task: Task) {
    this.task = task;
  }

  filled(target: Record<string, AttributeValue>): Record<string, AttributeValue> {
    if (!this.#filled) {
      Object.assign(target, taskToImage(this.task));
      this.#filled = true;
    }
    return target;
  }
}
for (const trap of TRAPS) {
  Object.defineProperty(LazyImage.prototype, trap, {
    value(this: LazyImage, target: Record<string, AttributeValue>, ...rest: unknown[]) {
      if (trap === 'get' && rest[0] === TASK_OF) return this.task;
      if (trap === 'has' && rest[0] === TASK_OF) return true;
      return (Reflect[trap] as (...args: unknown[]) => unknown)(this.filled(target), ...rest);
    },
  });
}

/**
 * The same image as taskToImage(task), made only when something looks into it. The local change
 * feed gives one to the publisher, which reads the task back through taskFromImage without ever
 * needing the attributes. Whatever reads properties (JSON.stringify, Object.keys, spreading,
 * unmarshall) sees the full image; util.inspect shows the empty target of an image not filled in
 * yet, and structuredClone refuses it (a Proxy): the image stays in the thread that made it.
 */
export function lazyTaskImage(task: Task): Record<string, AttributeValue> {
  return new Proxy({}, new LazyImage(task) as ProxyHandler<Record<string, AttributeValue>>);
}

/** The task a lazy image stands for. */
function taskOfLazy(image: Record<string, AttributeValue>): Task | undefined {
  return (image as { [TASK_OF]?: Task })[TASK_OF];
}

class Foreign extends Error {}

function fromAttribute(attribute: AttributeValue): Plain {
  if (attribute.S !== undefined) return attribute.S;
  if (attribute.N !== undefined) return Number(attribute.N);
  if (attribute.BOOL !== undefined) return attribute.BOOL;
  if (attribute.NULL !== undefined) return null;
  if (attribute.M !== undefined) return fromAttributeMap(attribute.M);
  if (attribute.L !== undefined) return attribute.L.map(fromAttribute);
  throw new Foreign();
}

function fromAttributeMap(map: Record<string, AttributeValue>): { [key: string]: Plain } {
  const value: { [key: string]: Plain } = {};
  for (const key in map) value[key] = fromAttribute(map[key]!);
  return value;
}

/** Reads a stream image back as a task; null for images that are not tasks. */
export function taskFromImage(image: Record<string, AttributeValue>): Task | null {
  const source = taskOfLazy(image) ?? made.get(image);
  // The same task as converting the image back would give (taskFromItem keeps the task fields only).
  if (source) return taskFromItem({ ...source, entity: TASK_ENTITY });
  let item: Record<string, unknown>;
  try {
    item = fromAttributeMap(image);
  } catch (error) {
    if (!(error instanceof Foreign)) throw error;
    item = unmarshall(image);
  }
  return taskFromItem(item);
}
