import type { SendMailOptions } from 'nodemailer';
import type { OutgoingEmail, SendOptions } from '../../ports/mailer.ts';

/**
 * The nodemailer message for an outgoing email. Shared by every nodemailer-based mailer (outbox,
 * SMTP, SES) so they build the same MIME message. Content is only ever strings, buffers and
 * streams we opened, and file and URL access stay off, so no payload can make nodemailer read a
 * local file or fetch a URL.
 */
export function toMailOptions(message: OutgoingEmail, options: SendOptions = {}): SendMailOptions {
  return {
    messageId: message.messageId,
    from: message.from,
    to: message.to,
    cc: message.cc.length > 0 ? message.cc : undefined,
    bcc: message.bcc.length > 0 ? message.bcc : undefined,
    replyTo: message.replyTo,
    subject: message.subject,
    text: message.text,
    html: message.html,
    attachments: message.attachments.map((a) => ({
      filename: a.filename,
      contentType: a.contentType,
      content: a.content,
    })),
    disableFileAccess: true,
    disableUrlAccess: true,
    signal: options.signal,
  };
}
