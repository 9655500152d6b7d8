import nodemailer from 'nodemailer';
import type { NodemailerError } from 'nodemailer';
import { ConfigurationError } from '../../domain/errors.ts';
import type { Logger } from '../../domain/task-type.ts';
import { EmailRejectedError } from '../../ports/mailer.ts';
import type { Mailer } from '../../ports/mailer.ts';
import { toMailOptions } from '../nodemailer/mail-options.ts';

export interface SmtpMailerOptions {
  /** `smtp://user:pass@host:587` (STARTTLS when the server offers it) or `smtps://user:pass@host:465`. */
  url: string;
  logger: Logger;
  /** Longest wait for the TCP (and TLS) connection. Default 10 s. */
  connectionTimeoutMs?: number;
  /** Longest wait for the server's greeting once connected. Default 10 s. */
  greetingTimeoutMs?: number;
  /** Longest silence from the server in the middle of a session. Default 30 s. */
  socketTimeoutMs?: number;
}

/**
 * Failures that say the server refused this message: an SMTP reply the server gave to MAIL FROM,
 * RCPT TO or the message data. Nodemailer marks a reply permanent for 5xx (except 503, a bad
 * command sequence). A 5xx to AUTH (wrong credentials) is a fault of the configuration, not of
 * the message, so it stays retryable: fixing the setting lets the next attempt through.
 */
function isRejection(error: NodemailerError): boolean {
  if (error.responseCode === undefined) return false;
  if (error.code !== 'EENVELOPE' && error.code !== 'EMESSAGE') return false;
  return error.permanent ?? (error.responseCode >= 500 && error.responseCode !== 503);
}

/** The URL without its password, for logs and error messages. */
function redacted(url: URL): string {
  const copy = new URL(url);
  if (copy.password) copy.password = '***';
  return copy.toString();
}

/**
 * A mailer that sends through an SMTP server named by a URL (the SMTP_URL setting). One connection
 * per message: tasks are independent, and a connection that outlives a task cannot be aborted by it.
 */
export function makeSmtpMailer(options: SmtpMailerOptions): Mailer {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new ConfigurationError('SMTP_URL is not a URL: use smtp://user:pass@host:587 or smtps://…:465.');
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') {
    throw new ConfigurationError(`SMTP_URL must start with smtp:// or smtps://, not ${url.protocol}//.`);
  }
  const transporter = nodemailer.createTransport({
    url: options.url,
    connectionTimeout: options.connectionTimeoutMs ?? 10_000,
    greetingTimeout: options.greetingTimeoutMs ?? 10_000,
    socketTimeout: options.socketTimeoutMs ?? 30_000,
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  const server = redacted(url);

  return {
    transport: 'smtp',
    async send(message, sendOptions) {
      try {
        const info = await transporter.sendMail(toMailOptions(message, sendOptions));
        options.logger.info('email sent over SMTP', {
          taskId: message.taskId,
          server,
          messageId: info.messageId,
          accepted: info.accepted.length,
          rejected: info.rejected.length,
          response: info.response,
        });
        return { messageId: info.messageId, accepted: info.accepted, rejected: info.rejected };
      } catch (error) {
        const e = error as NodemailerError;
        if (isRejection(e)) {
          throw new EmailRejectedError(e.response ?? e.message, { responseCode: e.responseCode, cause: e });
        }
        if (sendOptions?.signal?.aborted || !(error instanceof Error)) throw error;
        // Transient (a 4xx reply, a refused connection, a timeout): the task is retried.
        throw new Error(`SMTP server ${server}: ${e.message}`, { cause: error });
      }
    },
  };
}
