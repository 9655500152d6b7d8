import { z } from 'zod';
import { PermanentTaskError } from '../domain/errors.ts';
import { defineTaskType } from '../domain/task-type.ts';

/** Default most recipients (to + cc + bcc) one message may have. */
export const MAX_RECIPIENTS = 50;

const address = z.email({ message: 'must be an email address' });
const addresses = z.union([address, z.array(address).min(1)]);

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
      .array(
        z
          .object({ key: z.string().min(1).max(1024), filename: z.string().min(1).max(255).optional() })
          .strict(),
      )
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

/**
 * SEND_EMAIL: send one message. The payload schema is final; the handler arrives with the mailer
 * (SMTP, a local outbox, SES), and until then every task fails permanently saying so.
 */
export const sendEmailTaskType = defineTaskType({
  name: 'SEND_EMAIL',
  description: 'Send an email (nodemailer: SES on AWS, SMTP or a local outbox).',
  payloadSchema: sendEmailPayloadSchema,
  defaults: { maxAttempts: 5, timeoutSeconds: 60 },
  handler: () => {
    throw new PermanentTaskError('SEND_EMAIL is not implemented yet: it needs the mailer (planned).', {
      code: 'NOT_IMPLEMENTED',
    });
  },
});
