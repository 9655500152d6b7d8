import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaskQueue } from '../../src/ports/task-queue.ts';

export interface TaskQueueContractSetup {
  queue: TaskQueue;
  /** Moves the queue's notion of now forward. */
  clock: { advance(ms: number): void };
  /** What the dead-letter queue holds. */
  deadLetters(): Promise<Array<{ body: string; reason: string | null }>>;
  teardown(): Promise<void>;
}

/**
 * The TaskQueue port's contract (SQS semantics), written against the interface only. `setup` gives
 * an empty queue whose clock the test moves.
 */
export function describeTaskQueueContract(name: string, setup: () => Promise<TaskQueueContractSetup>): void {
  describe(`TaskQueue contract: ${name}`, () => {
    let queue: TaskQueue;
    let advance: (ms: number) => void;
    let deadLetters: () => Promise<Array<{ body: string; reason: string | null }>>;
    let teardown: () => Promise<void>;

    beforeEach(async () => {
      const made = await setup();
      queue = made.queue;
      advance = (ms) => made.clock.advance(ms);
      deadLetters = () => made.deadLetters();
      teardown = () => made.teardown();
    });

    afterEach(async () => {
      await teardown();
    });

    it('delivers a sent message once, and a deleted message never again', async () => {
      await queue.send([{ body: 'hello' }]);

      const received = await queue.receive(10, 30);
      await queue.delete(received.map((m) => m.receiptHandle));
      advance(31_000);
      const later = await queue.receive(10, 30);

      expect(received).toHaveLength(1);
      expect(received[0]).toMatchObject({ body: 'hello', receiveCount: 1 });
      expect(typeof received[0]!.messageId).toBe('string');
      expect(typeof received[0]!.sentTimestamp).toBe('number');
      expect(later).toEqual([]);
    });

    it('returns nothing from an empty queue', async () => {
      const received = await queue.receive(10, 30);

      expect(received).toEqual([]);
    });

    it('keeps a received message invisible until its visibility timeout passes, then redelivers it with receiveCount 2', async () => {
      await queue.send([{ body: 'lease' }]);
      const first = await queue.receive(10, 30);

      const during = await queue.receive(10, 30);
      advance(29_000);
      const justBefore = await queue.receive(10, 30);
      advance(2000);
      const after = await queue.receive(10, 30);

      expect(during).toEqual([]);
      expect(justBefore).toEqual([]);
      expect(after).toHaveLength(1);
      expect(after[0]).toMatchObject({ messageId: first[0]!.messageId, body: 'lease', receiveCount: 2 });
      expect(after[0]!.receiptHandle).not.toBe(first[0]!.receiptHandle);
    });

    it('does not delete with a stale receipt handle from before a redelivery', async () => {
      await queue.send([{ body: 'stale' }]);
      const [first] = await queue.receive(1, 10);
      advance(11_000);
      const [second] = await queue.receive(1, 10);

      await queue.delete([first!.receiptHandle]);
      advance(11_000);
      const third = await queue.receive(1, 10);

      expect(second!.receiveCount).toBe(2);
      expect(third).toHaveLength(1);
      expect(third[0]).toMatchObject({ messageId: first!.messageId, receiveCount: 3 });
    });

    it('ignores unknown receipt handles and an empty delete', async () => {
      await queue.send([{ body: 'keep' }]);

      await queue.delete([]);
      await queue.delete(['not-a-handle', '999999:1']);
      const received = await queue.receive(10, 30);

      expect(received.map((m) => m.body)).toEqual(['keep']);
    });

    it('makes a message visible at once with changeVisibility 0', async () => {
      await queue.send([{ body: 'release' }]);
      const [first] = await queue.receive(1, 300);

      await queue.changeVisibility(first!.receiptHandle, 0);
      const again = await queue.receive(1, 300);

      expect(again).toHaveLength(1);
      expect(again[0]).toMatchObject({ messageId: first!.messageId, receiveCount: 2 });
    });

    it('hides a message for N seconds from now with changeVisibility N', async () => {
      await queue.send([{ body: 'backoff' }]);
      const [first] = await queue.receive(1, 1);

      await queue.changeVisibility(first!.receiptHandle, 60);
      advance(2000);
      const afterOldTimeout = await queue.receive(1, 30);
      advance(57_000);
      const justBefore = await queue.receive(1, 30);
      advance(2000);
      const after = await queue.receive(1, 30);

      expect(afterOldTimeout).toEqual([]);
      expect(justBefore).toEqual([]);
      expect(after).toHaveLength(1);
      expect(after[0]!.messageId).toBe(first!.messageId);
    });

    it('hides a message sent with delaySeconds until the delay has passed', async () => {
      await queue.send([{ body: 'delayed', delaySeconds: 5 }, { body: 'now' }]);

      const atOnce = await queue.receive(10, 30);
      advance(4900);
      const justBefore = await queue.receive(10, 30);
      advance(200);
      const after = await queue.receive(10, 30);

      expect(atOnce.map((m) => m.body)).toEqual(['now']);
      expect(justBefore).toEqual([]);
      expect(after.map((m) => m.body)).toEqual(['delayed']);
      expect(after[0]!.receiveCount).toBe(1);
    });

    it('returns at most max messages per receive, and each message to one receiver', async () => {
      await queue.send(['a', 'b', 'c', 'd', 'e'].map((body) => ({ body })));

      const first = await queue.receive(2, 30);
      const second = await queue.receive(10, 30);
      const third = await queue.receive(10, 30);

      expect(first).toHaveLength(2);
      expect(second).toHaveLength(3);
      expect(third).toEqual([]);
      expect([...first, ...second].map((m) => m.body).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    });

    it('keeps the body and the reason of a message sent to the dead-letter queue, apart from the main queue', async () => {
      await queue.sendToDeadLetter('{"taskId":"t-1"}', 'attempts exhausted');

      const dead = await deadLetters();
      const main = await queue.receive(10, 30);

      expect(dead).toEqual([{ body: '{"taskId":"t-1"}', reason: 'attempts exhausted' }]);
      expect(main).toEqual([]);
    });
  });
}
