/** A message to send. */
export interface OutgoingMessage {
  body: string;
  /** 0..900 seconds, as SQS allows. */
  delaySeconds?: number;
}

/** A message handed to a consumer, in the shape of an SQS record. */
export interface ReceivedMessage {
  messageId: string;
  receiptHandle: string;
  body: string;
  /** How many times it has been received, this time included (SQS ApproximateReceiveCount). */
  receiveCount: number;
  sentTimestamp: number;
  firstReceiveTimestamp: number;
}

/**
 * The part of a queue a message handler uses while it processes a message that it was given (by
 * the Lambda event source mapping on AWS, by the local poller locally).
 */
export interface MessageControl {
  /** Hides the message for `seconds` from now: a retry's backoff, or a lease extended by a heartbeat. */
  changeVisibility(receiptHandle: string, seconds: number): Promise<void>;
  /** Parks a message in the dead-letter queue with the reason; the caller then acknowledges the original. */
  sendToDeadLetter(body: string, reason: string): Promise<void>;
}

/**
 * A queue with SQS semantics: at-least-once delivery, a visibility timeout (lease) per receive, a
 * receive count, per-message delay, and a dead-letter queue.
 */
export interface TaskQueue extends MessageControl {
  send(messages: readonly OutgoingMessage[]): Promise<void>;
  /** Receives up to `max` visible messages and hides them for `visibilityTimeoutSeconds`. */
  receive(max: number, visibilityTimeoutSeconds: number): Promise<ReceivedMessage[]>;
  /** Acknowledges: the messages are gone for good. Unknown or stale handles are ignored. */
  delete(receiptHandles: readonly string[]): Promise<void>;
}
