import type { OutgoingMessage } from '../../ports/task-queue.ts';
import type { AtomicSubmit, CreateResult, NewTask } from '../../ports/task-store.ts';
import type { Task } from '../../domain/task.ts';
import type { SqliteTaskQueue } from './sqlite-task-queue.ts';
import type { SqliteTaskStore } from './sqlite-task-store.ts';

/**
 * New tasks and their queue messages in one SQLite transaction, for a store and a queue on the same
 * database. A submit then never leaves a task stored without its message, even when the disk fills
 * between the two writes and the removal that would undo the first cannot be written either.
 */
export function sqliteAtomicSubmit(store: SqliteTaskStore, queue: SqliteTaskQueue): AtomicSubmit {
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
  };
}
