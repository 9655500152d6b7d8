import { SendEmailCommand, type SESv2Client } from '@aws-sdk/client-sesv2';
import nodemailer from 'nodemailer';
import type { Logger } from '../../domain/task-type.ts';
import { EmailRejectedError, type Mailer } from '../../ports/mailer.ts';
import { toMailOptions } from '../nodemailer/mail-options.ts';

/** SES errors that say this message will never be accepted as it is. */
const REJECTIONS = new Set(['MessageRejected', 'MailFromDomainNotVerifiedException', 'BadRequestException']);

/**
 * SEND_EMAIL on AWS: nodemailer's SES transport over the SES v2 API. The sender (or its domain) must
 * be a verified SES identity, and in the SES sandbox so must every recipient. SES assigns its own
 * Message-ID; the port returns that one, so the ledger records what receivers see.
 */
export function makeSesMailer(options: { ses: SESv2Client; logger: Logger }): Mailer {
  const transporter = nodemailer.createTransport({
    SES: { sesClient: options.ses, SendEmailCommand },
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  return {
    transport: 'ses',
    async send(message, sendOptions) {
      try {
        const info = await transporter.sendMail(toMailOptions(message, sendOptions));
        options.logger.info('email sent through SES', { taskId: message.taskId, messageId: info.messageId });
        // SES takes or refuses a message whole: every envelope recipient was accepted.
        return { messageId: info.messageId, accepted: [...(info.envelope?.to ?? [])], rejected: [] };
      } catch (error) {
        const name = (error as { name?: string; code?: string }).name ?? '';
        if (REJECTIONS.has(name))
          throw new EmailRejectedError(`SES: ${(error as Error).message}`, { cause: error });
        throw error;
      }
    },
  };
}
