import type { Readable } from 'node:stream';

/** Which kind of mailer handed the message on; reported in the SEND_EMAIL result. */
export type MailTransportName = 'outbox' | 'smtp' | 'ses';

/** One attachment, its bytes already opened: a stream (from the blob store) or a buffer. */
export interface OutgoingAttachment {
  filename: string;
  contentType: string;
  content: Readable | Buffer;
}

/**
 * One message as the SEND_EMAIL handler builds it. Addresses are plain, already validated addresses;
 * recipient lists may be empty except `to`.
 */
export interface OutgoingEmail {
  /** The task sending it. Names local artifacts (the outbox file) and goes into logs; never a header. */
  taskId: string;
  /** The Message-ID header, angle brackets included, e.g. `<id@task-queue>`. Set by us, stable across attempts. */
  messageId: string;
  from: string;
  to: string[];
  cc: string[];
  /** Envelope recipients only: a mailer never writes them into a header. */
  bcc: string[];
  replyTo?: string;
  subject: string;
  text?: string;
  html?: string;
  attachments: OutgoingAttachment[];
}

/** What the transport reports once it has taken the message. */
export interface SentEmail {
  /**
   * The Message-ID the message went out with: the one we set, except where the transport assigns
   * its own (SES replaces it with one built from the SES message id).
   */
  messageId: string;
  /** Recipients the server accepted (the outbox accepts every recipient). */
  accepted: string[];
  /** Recipients the server refused while accepting the message for the others. */
  rejected: string[];
  /** The outbox only: the `.eml` file the message was written to. */
  outboxFile?: string;
}

export interface SendOptions {
  /**
   * Cancels the send while it can still be cancelled. Aborting does not prove the server has not
   * taken the message already: a transport may finish a send it has started.
   */
  signal?: AbortSignal;
}

/**
 * Sends one message: SES on AWS, SMTP or a local outbox folder. Every adapter is a nodemailer
 * transport underneath, so they build the same MIME message from the same fields.
 *
 * Errors: a mailer throws {@link EmailRejectedError} when the server refused the message for good
 * (an SMTP 5xx reply, SES MessageRejected); anything else it throws (4xx replies, refused
 * connections, timeouts, throttling, an abort) is taken as transient and the task is retried.
 */
export interface Mailer {
  readonly transport: MailTransportName;
  send(message: OutgoingEmail, options?: SendOptions): Promise<SentEmail>;
}

/** The server refused the message, and sending the same message again would be refused again. */
export class EmailRejectedError extends Error {
  /** The SMTP reply code, when there was one (e.g. 550). */
  readonly responseCode: number | undefined;
  /** The server's own words, e.g. `550 5.1.1 <x@example.com>: Recipient address rejected`. */
  readonly response: string;

  constructor(response: string, options?: { responseCode?: number; cause?: unknown }) {
    super(response, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EmailRejectedError';
    this.response = response;
    this.responseCode = options?.responseCode;
  }
}

/** What the ledger keeps about a sent message: enough to answer a re-delivery with the same result. */
export interface SentEmailRecord extends SentEmail {
  /** ISO 8601 time the transport accepted the message. */
  sentAt: string;
  transport: MailTransportName;
}

/**
 * How long a sent record is kept (DynamoDB TTL on AWS, a sweep locally): far longer than the retries
 * and redeliveries of one run of its task take. A retryTask of a task that finished longer ago than
 * this sends the email again.
 */
export const SENT_RECORD_KEEP_SECONDS = 30 * 86_400;

/**
 * The record that makes a re-delivered, already-sent SEND_EMAIL task a no-op. The handler asks it
 * before sending and writes to it after the transport accepted the message and before returning.
 * `recordSent` resolves only once the record is durable (fsync locally; a DynamoDB or S3 put on
 * AWS), because a record that can be lost is a duplicate email waiting to happen.
 */
export interface SentEmailLedger {
  /** The record of the task's sent message, or null when it has not been sent (as far as we know). */
  wasSent(taskId: string): Promise<SentEmailRecord | null>;
  /** Records that the task's message was sent. Replaces an earlier record of the same task. */
  recordSent(taskId: string, record: SentEmailRecord): Promise<void>;
}
