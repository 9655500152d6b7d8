import type { Readable } from 'node:stream';
import { z } from 'zod';
import { BlobNotFoundError, blobKeyProblem } from '../domain/blob-key.ts';
import { ConfigurationError, PermanentTaskError, isErrorNamed } from '../domain/errors.ts';
import { defineTaskType } from '../domain/task-type.ts';
import type { TaskContext } from '../domain/task-type.ts';
import { EmailRejectedError } from '../ports/mailer.ts';
import type {
  MailTransportName,
  Mailer,
  OutgoingAttachment,
  SentEmail,
  SentEmailLedger,
  SentEmailRecord,
} from '../ports/mailer.ts';
import { systemClock } from '../ports/clock.ts';
import type { Clock } from '../ports/clock.ts';

/** Default most recipients (to + cc + bcc) one message may have. */
export const MAX_RECIPIENTS = 50;

/** Most bytes all attachments of one message may have together, before MIME encoding (SES allows 40 MB encoded). */
export const MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024;

const address = z.email({ message: 'must be an email address' });
const addresses = z.union([address, z.array(address).min(1)]);

const attachmentKey = z.string().superRefine((key, ctx) => {
  const problem = blobKeyProblem(key);
  if (problem) ctx.addIssue({ code: 'custom', message: `must be a blob key: ${problem}` });
});

const count = (value: string | string[] | undefined) =>
  value === undefined ? 0 : Array.isArray(value) ? value.length : 1;

export const sendEmailPayloadSchema = z
  .object({
    to: addresses,
    cc: addresses.optional(),
    bcc: addresses.optional(),
    from: address.optional(),
    replyTo: address.optional(),
    subject: z.string().min(1).max(998),
    text: z.string().max(1_000_000).optional(),
    html: z.string().max(1_000_000).optional(),
    attachments: z
      .array(z.object({ key: attachmentKey, filename: z.string().min(1).max(255).optional() }).strict())
      .max(10)
      .optional(),
  })
  .strict()
  .refine((p) => p.text !== undefined || p.html !== undefined, {
    message: 'give a body: "text", "html" or both',
  })
  .refine((p) => count(p.to) + count(p.cc) + count(p.bcc) <= MAX_RECIPIENTS, {
    message: `at most ${MAX_RECIPIENTS} recipients in to, cc and bcc together`,
  });

/** What a SEND_EMAIL task returns; a re-delivery of a sent task returns the recorded one. */
export interface SendEmailResult {
  messageId: string;
  accepted: string[];
  rejected: string[];
  transport: MailTransportName;
  /** When the transport accepted the message (ISO 8601). */
  sentAt: string;
  /** Outbox only: the `.eml` file written. */
  outboxFile?: string;
}

export interface SendEmailDeps {
  mailer: Mailer;
  ledger: SentEmailLedger;
  /** Sender when the payload names none. */
  defaultFrom: string;
  /** Most recipients (to + cc + bcc) per message; at most {@link MAX_RECIPIENTS}, the default. */
  maxRecipients?: number;
  clock?: Clock;
}

/** The Message-ID of a task's email: the same on every attempt, so receivers can drop a duplicate. */
export function messageIdFor(taskId: string): string {
  return `<${taskId}@task-queue>`;
}

const list = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

const resultOf = (record: SentEmailRecord): SendEmailResult => ({
  messageId: record.messageId,
  accepted: record.accepted,
  rejected: record.rejected,
  transport: record.transport,
  sentAt: record.sentAt,
  ...(record.outboxFile === undefined ? {} : { outboxFile: record.outboxFile }),
});

/**
 * Opens the attachments: every blob's head first (so a missing one fails before any stream is
 * opened, and the total size is known), then the streams. A missing blob fails the task for good.
 */
async function openAttachments(
  attachments: readonly { key: string; filename?: string | undefined }[],
  ctx: TaskContext,
): Promise<OutgoingAttachment[]> {
  const notFound = (key: string, cause?: unknown) =>
    new PermanentTaskError(
      `Attachment "${key}" does not exist in the blob store (expired, or never uploaded).`,
      {
        code: 'ATTACHMENT_NOT_FOUND',
        cause,
      },
    );
  const heads = await Promise.all(attachments.map((a) => ctx.blobs.head(a.key)));
  let total = 0;
  for (const [i, head] of heads.entries()) {
    if (!head) throw notFound(attachments[i]!.key);
    total += head.bytes;
  }
  if (total > MAX_ATTACHMENT_BYTES) {
    throw new PermanentTaskError(
      `The attachments are ${total} bytes together, over the limit of ${MAX_ATTACHMENT_BYTES}; send a download link instead.`,
      { code: 'ATTACHMENTS_TOO_LARGE' },
    );
  }
  const opened: OutgoingAttachment[] = [];
  try {
    for (const [i, attachment] of attachments.entries()) {
      let content: Readable;
      try {
        content = await ctx.blobs.read(attachment.key);
      } catch (error) {
        if (isErrorNamed(error, BlobNotFoundError)) throw notFound(attachment.key, error);
        throw error;
      }
      opened.push({
        filename: attachment.filename ?? attachment.key.slice(attachment.key.lastIndexOf('/') + 1),
        contentType: heads[i]?.contentType ?? 'application/octet-stream',
        content,
      });
    }
    return opened;
  } catch (error) {
    closeAll(opened);
    throw error;
  }
}

function closeAll(attachments: readonly OutgoingAttachment[]): void {
  for (const { content } of attachments) if (!Buffer.isBuffer(content)) content.destroy();
}

/**
 * SEND_EMAIL with a mailer (outbox, SMTP or SES) and a sent-email ledger.
 *
 * Exactly once, as far as it can be had:
 * 1. The ledger is asked first. A task whose email was sent (a re-delivered message, a retry after
 *    a failure that came after the send) returns the recorded result and sends nothing.
 * 2. The message is sent with `Message-ID: <taskId@task-queue>`, the same on every attempt.
 * 3. The send is recorded in the ledger, durably, before the handler returns.
 *
 * Where it cannot be had: between the moment the server accepts the message (its 250 reply to the
 * end of DATA; SES answering the API call) and the moment the ledger's record is fsynced, nothing
 * durable says the email left. A crash of the process or the machine in that window, or a ledger
 * write that fails, makes the next attempt send the email again. No ordering closes it: recording
 * before sending would lose emails instead (a crash after the record and before the send). The
 * second copy carries the same Message-ID, so receiving systems that deduplicate on it drop it.
 * A timeout or a cancel in that window does not widen it: the signal no longer stops a send the
 * server has accepted, and the ledger write is not given the signal, so it still completes.
 */
export function makeSendEmailTaskType(deps: SendEmailDeps) {
  const maxRecipients = Math.min(deps.maxRecipients ?? MAX_RECIPIENTS, MAX_RECIPIENTS);
  if (!Number.isInteger(maxRecipients) || maxRecipients < 1) {
    throw new ConfigurationError(`maxRecipients must be a whole number from 1 to ${MAX_RECIPIENTS}.`);
  }
  if (!z.email().safeParse(deps.defaultFrom).success) {
    throw new ConfigurationError(
      `The default sender ${JSON.stringify(deps.defaultFrom)} is not an email address.`,
    );
  }
  const clock = deps.clock ?? systemClock;

  return defineTaskType({
    name: 'SEND_EMAIL',
    description: 'Send an email (nodemailer: SES on AWS, SMTP or a local outbox).',
    payloadSchema: sendEmailPayloadSchema,
    defaults: { maxAttempts: 5, timeoutSeconds: 60 },
    handler: async (payload, ctx): Promise<SendEmailResult> => {
      const log = ctx.logger.child({ taskType: 'SEND_EMAIL', transport: deps.mailer.transport });
      const earlier = await deps.ledger.wasSent(ctx.taskId);
      if (earlier) {
        log.info('email already sent: not sending it again', {
          messageId: earlier.messageId,
          sentAt: earlier.sentAt,
        });
        return resultOf(earlier);
      }

      const to = list(payload.to);
      const cc = list(payload.cc);
      const bcc = list(payload.bcc);
      const recipients = to.length + cc.length + bcc.length;
      if (recipients > maxRecipients) {
        throw new PermanentTaskError(
          `The email has ${recipients} recipients; this deployment sends to at most ${maxRecipients}.`,
          { code: 'TOO_MANY_RECIPIENTS' },
        );
      }

      ctx.signal.throwIfAborted();
      const attachments = await openAttachments(payload.attachments ?? [], ctx);
      let sent: SentEmail;
      try {
        ctx.signal.throwIfAborted();
        ctx.progress(0.5, 'sending');
        sent = await deps.mailer.send(
          {
            taskId: ctx.taskId,
            messageId: messageIdFor(ctx.taskId),
            from: payload.from ?? deps.defaultFrom,
            to,
            cc,
            bcc,
            replyTo: payload.replyTo,
            subject: payload.subject,
            text: payload.text,
            html: payload.html,
            attachments,
          },
          { signal: ctx.signal },
        );
      } catch (error) {
        if (isErrorNamed(error, EmailRejectedError)) {
          throw new PermanentTaskError(`The mail server rejected the email: ${error.response}`, {
            code: 'REJECTED',
            cause: error,
          });
        }
        throw error;
      } finally {
        closeAll(attachments);
      }

      // From here until the record is durable is the window in which a crash means a second send.
      const record: SentEmailRecord = {
        ...sent,
        sentAt: new Date(clock.now()).toISOString(),
        transport: deps.mailer.transport,
      };
      await deps.ledger.recordSent(ctx.taskId, record);
      log.info('email sent', {
        messageId: record.messageId,
        accepted: record.accepted.length,
        rejected: record.rejected.length,
      });
      return resultOf(record);
    },
  });
}
