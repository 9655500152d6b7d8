import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaskQueue } from '../../src/ports/task-queue.ts';

export interface TaskQueueContractSetup {
  queue: TaskQueue;
  /**
   * Moves the queue's notion of now forward by `ms`: a manual clock just advances, a queue on real
   * time (an SQS emulator) is waited for. The durations below are kept short for the latter.
   */
  clock: { advance(ms: number): Promise<void> };
  /** What the dead-letter queue holds. */
  deadLetters(): Promise<Array<{ body: string; reason: string | null }>>;
  teardown(): Promise<void>;
}

/** The lease of a receive in these tests, in seconds (SQS takes whole seconds). */
const VISIBILITY = 2;
/** How far before a deadline a "not yet" look is taken, and how far past it an "now it is" look. */
const BEFORE_MS = 500;
const PAST_MS = 250;

/**
 * The TaskQueue port's contract (SQS semantics), written against the interface only. `setup` gives
 * an empty queue whose clock the test moves. Behaviour that only the local queue promises (a stale
 * receipt handle deletes nothing) is tested with that queue, not here.
 */
export function describeTaskQueueContract(name: string, setup: () => Promise<TaskQueueContractSetup>): void {
  describe(`TaskQueue contract: ${name}`, () => {
    let queue: TaskQueue;
    let advance: (ms: number) => Promise<void>;
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

      const received = await queue.receive(10, VISIBILITY);
      await queue.delete(received.map((m) => m.receiptHandle));
      await advance(VISIBILITY * 1000 + PAST_MS);
      const later = await queue.receive(10, VISIBILITY);

      expect(received).toHaveLength(1);
      expect(received[0]).toMatchObject({ body: 'hello', receiveCount: 1 });
      expect(typeof received[0]!.messageId).toBe('string');
      expect(typeof received[0]!.sentTimestamp).toBe('number');
      expect(later).toEqual([]);
    });

    it('returns nothing from an empty queue', async () => {
      const received = await queue.receive(10, VISIBILITY);

      expect(received).toEqual([]);
    });

    it('keeps a received message invisible until its visibility timeout passes, then redelivers it with receiveCount 2', async () => {
      await queue.send([{ body: 'lease' }]);
      const first = await queue.receive(10, VISIBILITY);

      const during = await queue.receive(10, VISIBILITY);
      await advance(VISIBILITY * 1000 - BEFORE_MS);
      const justBefore = await queue.receive(10, VISIBILITY);
      await advance(BEFORE_MS + PAST_MS);
      const after = await queue.receive(10, VISIBILITY);

      expect(during).toEqual([]);
      expect(justBefore).toEqual([]);
      expect(after).toHaveLength(1);
      expect(after[0]).toMatchObject({ messageId: first[0]!.messageId, body: 'lease', receiveCount: 2 });
      expect(after[0]!.receiptHandle).not.toBe(first[0]!.receiptHandle);
    });

    it('ignores unknown receipt handles and an empty delete', async () => {
      await queue.send([{ body: 'keep' }]);

      await queue.delete([]);
      await queue.delete(['not-a-handle', '999999:1']);
      const received = await queue.receive(10, VISIBILITY);

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

      await queue.changeVisibility(first!.receiptHandle, 3);
      await advance(1000 + PAST_MS);
      const afterOldTimeout = await queue.receive(1, VISIBILITY);
      await advance(2000 - PAST_MS - BEFORE_MS);
      const justBefore = await queue.receive(1, VISIBILITY);
      await advance(BEFORE_MS + PAST_MS);
      const after = await queue.receive(1, VISIBILITY);

      expect(afterOldTimeout).toEqual([]);
      expect(justBefore).toEqual([]);
      expect(after).toHaveLength(1);
      expect(after[0]!.messageId).toBe(first!.messageId);
    });

    it('hides a message sent with delaySeconds until the delay has passed', async () => {
      await queue.send([{ body: 'delayed', delaySeconds: 2 }, { body: 'now' }]);

      // 'now' is leased for longer than the test runs, so only the delayed message can show up later.
      const atOnce = await queue.receive(10, 30);
      await advance(2000 - BEFORE_MS);
      const justBefore = await queue.receive(10, 30);
      await advance(BEFORE_MS + PAST_MS);
      const after = await queue.receive(10, 30);

      expect(atOnce.map((m) => m.body)).toEqual(['now']);
      expect(justBefore).toEqual([]);
      expect(after.map((m) => m.body)).toEqual(['delayed']);
      expect(after[0]!.receiveCount).toBe(1);
    });

    it('returns at most max messages per receive, and each message to one receiver', async () => {
      await queue.send(['a', 'b', 'c', 'd', 'e'].map((body) => ({ body })));

      const first = await queue.receive(2, VISIBILITY);
      const second = await queue.receive(10, VISIBILITY);
      const third = await queue.receive(10, VISIBILITY);

      expect(first).toHaveLength(2);
      expect(second).toHaveLength(3);
      expect(third).toEqual([]);
      expect([...first, ...second].map((m) => m.body).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    });

    it('keeps the body and the reason of a message sent to the dead-letter queue, apart from the main queue', async () => {
      await queue.sendToDeadLetter('{"taskId":"t-1"}', 'attempts exhausted');

      const dead = await deadLetters();
      const main = await queue.receive(10, VISIBILITY);

      expect(dead).toEqual([{ body: '{"taskId":"t-1"}', reason: 'attempts exhausted' }]);
      expect(main).toEqual([]);
    });
  });
}
