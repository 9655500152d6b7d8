import type { Task } from '../../domain/task.ts';
import type { OutgoingMessage } from '../../ports/task-queue.ts';
import type {
  AtomicEnqueue,
  CreateResult,
  NewTask,
  TaskPatch,
  UpdateCondition,
} from '../../ports/task-store.ts';
import type { SqliteTaskQueue } from './sqlite-task-queue.ts';
import type { SqliteTaskStore } from './sqlite-task-store.ts';

/**
 * Task writes and the queue messages they call for in one SQLite transaction, for a store and a queue
 * on the same database. A submit or a retry then never leaves a task stored as QUEUED without its
 * message, even when the disk fills between the two writes and the undo of the first cannot be written
 * either.
 */
export function sqliteAtomicEnqueue(store: SqliteTaskStore, queue: SqliteTaskQueue): AtomicEnqueue {
  // On two databases the messages would commit on their own, outside the task's transaction.
  if (store.database !== queue.database) {
    throw new Error('sqliteAtomicEnqueue needs a store and a queue on the same SqliteDatabase');
  }
  return {
    async createQueued(
      items: readonly NewTask[],
      messagesFor: (created: Task[]) => OutgoingMessage[],
    ): Promise<CreateResult[]> {
      let sent = false;
      const results = await store.createWith(items, (results) => {
        const created = results.filter((r) => r.created).map((r) => r.task);
        sent = created.length > 0;
        if (sent) queue.sendInWrite(messagesFor(created));
      });
      if (sent) queue.notifySent();
      return results;
    },

    async updateQueued(
      id: string,
      patch: TaskPatch,
      condition: UpdateCondition,
      now: string,
      messages: readonly OutgoingMessage[],
    ): Promise<Task> {
      const task = await store.updateWith(id, patch, condition, now, () => queue.sendInWrite(messages));
      queue.notifySent();
      return task;
    },
  };
}
