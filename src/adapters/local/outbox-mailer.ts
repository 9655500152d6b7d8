import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { Logger } from '../../domain/task-type.ts';
import type { Mailer } from '../../ports/mailer.ts';
import { toMailOptions } from '../nodemailer/mail-options.ts';
import { writeFileAtomic } from './atomic-file.ts';

/** Task ids go into file names: anything but these characters becomes "_". */
const unsafeInFileName = /[^A-Za-z0-9._-]/g;

/** Whether `path` exists. */
async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * A mailer that sends nothing: it writes each message, exactly as SMTP would carry it (RFC 5322,
 * CRLF line ends), to `<dataDir>/outbox/<taskId>.eml`, which any mail client opens. Task ids are
 * time-ordered (UUID version 7), so the files sort by submission time.
 * The file appears whole or not at all (temporary file, fsync, rename). Bcc recipients are in the
 * envelope, not the headers, so the file does not show them; the log line counts them.
 */
export function makeOutboxMailer(options: { dataDir: string; logger: Logger }): Mailer {
  const folder = join(options.dataDir, 'outbox');

  return {
    transport: 'outbox',
    async send(message, sendOptions) {
      sendOptions?.signal?.throwIfAborted();
      // MailComposer rather than the stream transport: that one keeps the Bcc header (it is made
      // for sendmail, which reads recipients from the headers), and an outbox file must not show it.
      const mime = new MailComposer(toMailOptions(message)).compile();
      const raw = await mime.build();
      const messageId = mime.messageId();
      await mkdir(folder, { recursive: true });
      // One file per task, named by the task: a re-delivery that comes after the file was written but
      // before the sent-email ledger recorded it finds the file and writes no second one. So the
      // outbox, unlike SMTP or SES, has no duplicate window at all.
      const path = join(folder, `${message.taskId.replace(unsafeInFileName, '_')}.eml`);
      if (!(await exists(path))) await writeFileAtomic(path, raw);
      const accepted = [...mime.getEnvelope().to];
      options.logger.info('email written to the outbox', {
        taskId: message.taskId,
        path,
        messageId,
        recipients: accepted.length,
        bcc: message.bcc.length,
      });
      return { messageId, accepted, rejected: [], outboxFile: path };
    },
  };
}
