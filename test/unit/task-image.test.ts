import { describe, expect, it, vi } from 'vitest';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { lazyTaskImage, taskFromImage, taskToImage } from '../../src/adapters/dynamodb/task-image.ts';
import { taskFromItem, taskToItem } from '../../src/adapters/dynamodb/task-item.ts';
import type { Task } from '../../src/domain/task.ts';
import { T0, iso, makeTask } from '../helpers/contract-fixtures.ts';

const tasks: Array<[string, Task]> = [
  ['a new task', makeTask()],
  [
    'a running task with progress',
    makeTask({
      status: 'RUNNING',
      attempts: 1,
      progress: 0.25,
      progressMessage: 'a quarter',
      leaseExpiresAt: iso(T0 + 30_000),
      startedAt: iso(T0),
    }),
  ],
  [
    'a retrying task with an error',
    makeTask({
      status: 'RETRYING',
      attempts: 2,
      error: { code: 'HANDLER_ERROR', message: 'boom "quoted" ✓', retryable: true, attempt: 2 },
      runAt: iso(T0 + 4000),
    }),
  ],
  [
    'a failed task whose error has no attempt',
    makeTask({
      status: 'FAILED',
      error: { code: 'WORKER_LOST', message: '', retryable: false, attempt: null },
      expiresAt: iso(T0 + 86_400_000),
      finishedAt: iso(T0 + 5),
    }),
  ],
  [
    'a succeeded task with a result',
    makeTask({
      status: 'SUCCEEDED',
      result: '{"n":1.5e-7,"s":""}',
      resultSize: 19,
      progress: 1,
      expiresAt: iso(T0 + 1),
      idempotencyKey: 'k-1',
      cancelRequested: true,
    }),
  ],
];

describe('task stream images', () => {
  it.each(tasks)('writes %s exactly as util-dynamodb marshalls its item', (_, task) => {
    expect(taskToImage(task)).toEqual(marshall(taskToItem(task), { removeUndefinedValues: true }));
  });

  it.each(tasks)('reads %s back as util-dynamodb and taskFromItem do', (_, task) => {
    const image = marshall(taskToItem(task), { removeUndefinedValues: true });

    expect(taskFromImage(image)).toEqual(taskFromItem(unmarshall(image)));
    expect(taskFromImage(image)).toEqual(task);
  });

  it.each(tasks)('reads %s from an image it made itself as from a copy of that image', (_, task) => {
    const image = taskToImage(task);
    const copy = JSON.parse(JSON.stringify(image)) as typeof image;

    expect(taskFromImage(image)).toEqual(taskFromImage(copy));
    expect(taskFromImage(image)).not.toBe(task);
  });

  it.each(tasks)('gives %s a lazy image that reads, lists and serialises as the full one', (_, task) => {
    const full = taskToImage(task);
    const lazy = lazyTaskImage(task);

    expect(taskFromImage(lazy)).toEqual(task);
    expect(Object.keys(lazy)).toEqual(Object.keys(full));
    expect('status' in lazy).toBe(true);
    expect(lazy['status']).toEqual(full['status']);
    expect(JSON.stringify(lazy)).toBe(JSON.stringify(full));
    expect({ ...lazy }).toEqual(full);
    expect(unmarshall(lazy)).toEqual(unmarshall(full));
  });

  it('reads a lazy image back without filling it in', () => {
    const task = makeTask();
    const lazy = lazyTaskImage(task);
    const fill = vi.spyOn(Object, 'assign');
    try {
      expect(taskFromImage(lazy)).toEqual(task);
      expect(fill).not.toHaveBeenCalled();
      void Object.keys(lazy);
      expect(fill).toHaveBeenCalledTimes(1);
    } finally {
      fill.mockRestore();
    }
  });

  it('reads an image with an attribute of another kind (a string set) through util-dynamodb', () => {
    const task = makeTask();
    const image = { ...taskToImage(task), tags: { SS: ['a', 'b'] } };

    expect(taskFromImage(image)).toEqual(task);
  });

  it('returns null for an image that is not a task', () => {
    expect(taskFromImage({ id: { S: 'IDEMPOTENCY#k' }, entity: { S: 'IDEMPOTENCY' } })).toBeNull();
  });

  it('refuses a number DynamoDB cannot store', () => {
    expect(() => taskToImage(makeTask({ progress: Number.NaN }))).toThrow(/cannot be stored/);
  });
});
