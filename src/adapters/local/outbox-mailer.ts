import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { Logger } from '../../domain/task-type.ts';
import type { Mailer } from '../../ports/mailer.ts';
import { systemClock } from '../../ports/clock.ts';
import type { Clock } from '../../ports/clock.ts';
import { toMailOptions } from '../nodemailer/mail-options.ts';
import { writeFileAtomic } from './atomic-file.ts';

/** Task ids go into file names: anything but these characters becomes "_". */
const unsafeInFileName = /[^A-Za-z0-9._-]/g;

/** `2025-01-02T03:04:05.678Z` → `20250102T030405678Z`: sortable, and valid in a file name everywhere. */
function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:.]/g, '');
}

/**
 * A mailer that sends nothing: it writes each message, exactly as SMTP would carry it (RFC 5322,
 * CRLF line ends), to `<dataDir>/outbox/<timestamp>-<taskId>.eml`, which any mail client opens.
 * The file appears whole or not at all (temporary file, fsync, rename). Bcc recipients are in the
 * envelope, not the headers, so the file does not show them; the log line counts them.
 */
export function makeOutboxMailer(options: { dataDir: string; logger: Logger; clock?: Clock }): Mailer {
  const folder = join(options.dataDir, 'outbox');
  const clock = options.clock ?? systemClock;

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
      // One file per task, whatever the time: a re-delivery that comes after the file was written
      // but before the sent-email ledger recorded it finds the file and writes no second one. So the
      // outbox, unlike SMTP or SES, has no duplicate window at all.
      const suffix = `-${message.taskId.replace(unsafeInFileName, '_')}.eml`;
      const earlier = (await readdir(folder)).find((name) => name.endsWith(suffix));
      const path = earlier ? join(folder, earlier) : join(folder, `${stamp(clock.now())}${suffix}`);
      if (!earlier) await writeFileAtomic(path, raw);
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
