import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parse, subscribe } from 'graphql';
import { LocalAppSync } from '../../src/appsync/local-appsync.ts';
import { InProcessUpdatePublisher } from '../../src/adapters/local/in-process-update-publisher.ts';
import { updateFromTask } from '../../src/handlers/publish-updates.ts';
import {
  PUBLISH_TASK_UPDATE_MUTATION,
  publishVariables,
} from '../../src/handlers/publish-task-update-document.ts';
import { REPO_ROOT } from '../../src/local/runtime.ts';
import type { TaskUpdate } from '../../src/domain/task.ts';
import { iso, makeTask, recordingLogger, T0 } from '../helpers/contract-fixtures.ts';

let appsync: LocalAppSync;
const open: Array<AsyncIterableIterator<unknown>> = [];

beforeAll(async () => {
  const refuse = async () => ({ error: { message: 'not in this test', type: 'Test' } });
  appsync = await LocalAppSync.create({
    repoRoot: REPO_ROOT,
    logger: recordingLogger(),
    dataSources: { API_LAMBDA: refuse, TASKS_TABLE: refuse },
  });
});

afterEach(async () => {
  for (const iterator of open.splice(0)) await iterator.return?.();
});

/** Subscribes as a client would; returns the events it receives. */
async function subscriber(query: string): Promise<unknown[]> {
  const result = await subscribe({
    schema: appsync.schema,
    document: parse(query),
    contextValue: { auth: { mode: 'API_KEY' }, headers: {} },
  });
  if (!(Symbol.asyncIterator in result)) throw new Error(JSON.stringify(result.errors));
  open.push(result);
  const events: unknown[] = [];
  void (async () => {
    for await (const event of result) events.push(event);
  })();
  return events;
}

const update = (overrides: Parameters<typeof makeTask>[0] = {}): TaskUpdate =>
  updateFromTask(makeTask({ updatedAt: iso(T0 + 1), ...overrides }));

describe('LocalAppSync.wouldReach (the publisher skips mutations nobody would receive)', () => {
  it('is false with no subscriber at all', () => {
    expect(appsync.wouldReach(PUBLISH_TASK_UPDATE_MUTATION, update())).toBe(false);
  });

  it('judges basic filters on the update: status: SUCCEEDED is reached by a SUCCEEDED update only', async () => {
    await subscriber('subscription { onTaskUpdated(status: SUCCEEDED) { id status } }');

    expect(appsync.wouldReach(PUBLISH_TASK_UPDATE_MUTATION, update({ status: 'RUNNING' }))).toBe(false);
    expect(appsync.wouldReach(PUBLISH_TASK_UPDATE_MUTATION, update({ status: 'SUCCEEDED' }))).toBe(true);
  });

  it('is true when any one subscriber would take the update', async () => {
    const task = makeTask();
    await subscriber('subscription { onTaskUpdated(status: FAILED) { id } }');
    await subscriber(`subscription { onTaskUpdated(id: "${task.id}") { id } }`);

    expect(appsync.wouldReach(PUBLISH_TASK_UPDATE_MUTATION, update({ id: task.id }))).toBe(true);
    expect(appsync.wouldReach(PUBLISH_TASK_UPDATE_MUTATION, update())).toBe(false);
  });

  it('is true for a subscriber without arguments, who takes every update', async () => {
    await subscriber('subscription { onTaskUpdated { id } }');

    expect(appsync.wouldReach(PUBLISH_TASK_UPDATE_MUTATION, update({ status: 'RUNNING' }))).toBe(true);
  });

  it('does not judge a document with several root fields or with directives: it counts as reaching', async () => {
    await subscriber('subscription { onTaskUpdated(status: SUCCEEDED) { id status } }');
    const running = update({ status: 'RUNNING' });
    const two =
      'mutation ($a: TaskUpdateInput!, $b: TaskUpdateInput!) { a: publishTaskUpdate(input: $a) { id status } b: publishTaskUpdate(input: $b) { id status } }';
    const skipped =
      'mutation ($a: TaskUpdateInput!, $s: Boolean!) { publishTaskUpdate(input: $a) { id status @skip(if: $s) } }';

    expect(appsync.wouldReach(PUBLISH_TASK_UPDATE_MUTATION, running)).toBe(false);
    expect(appsync.wouldReach(two, running)).toBe(true);
    expect(appsync.wouldReach(skipped, running)).toBe(true);
  });

  it('agrees with what publishing delivers: a skipped update is one no subscriber receives', async () => {
    const events = await subscriber('subscription { onTaskUpdated(status: SUCCEEDED) { id status } }');
    const publisher = new InProcessUpdatePublisher(appsync);
    const execute = vi.spyOn(appsync, 'execute');
    const running = update({ status: 'RUNNING' });
    const done = update({ status: 'SUCCEEDED', result: '{"n":1}', resultSize: 7 });

    await publisher.publish(running);
    await publisher.publish(done);
    // Run the skipped one anyway: nobody receives it.
    await appsync.execute(PUBLISH_TASK_UPDATE_MUTATION, publishVariables(running), {
      auth: { mode: 'AWS_IAM' },
      headers: {},
    });
    await vi.waitFor(() => expect(events).toHaveLength(1));

    expect(execute).toHaveBeenCalledTimes(2);
    expect(events).toEqual([{ data: { onTaskUpdated: { id: done.id, status: 'SUCCEEDED' } } }]);
    execute.mockRestore();
  });

  it("publishTaskUpdate's response is its input, which is what makes judging on the update sound", async () => {
    const done = update({
      status: 'FAILED',
      error: { code: 'E', message: 'm', retryable: false, attempt: 1 },
      result: null,
    });
    const result = await appsync.execute(PUBLISH_TASK_UPDATE_MUTATION, publishVariables(done), {
      auth: { mode: 'AWS_IAM' },
      headers: {},
    });

    expect(result.errors).toBeUndefined();
    expect(result.data?.['publishTaskUpdate']).toEqual(done);
  });
});
