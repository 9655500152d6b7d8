import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { SENT_RECORD_KEEP_SECONDS, type SentEmailLedger, type SentEmailRecord } from '../../ports/mailer.ts';
import {
  STALE_TEMP_FILE_MS,
  removeFilesWrittenBefore,
  removeStaleTempFiles,
  writeFileAtomic,
} from './atomic-file.ts';

/** A record's file: `<taskId>.json` (temporary files start with a dot). */
const RECORD_FILE = /^[^.].*\.json$/;

const recordSchema = z.object({
  messageId: z.string(),
  sentAt: z.string(),
  transport: z.enum(['outbox', 'smtp', 'ses']),
  accepted: z.array(z.string()),
  rejected: z.array(z.string()),
  outboxFile: z.string().optional(),
});

/** Task ids become file names: only these characters, and never "." or "..". */
const SAFE_ID = /^(?!\.{1,2}$)[A-Za-z0-9._-]{1,200}$/;

function fileName(taskId: string): string {
  if (!SAFE_ID.test(taskId)) throw new Error(`Task id ${JSON.stringify(taskId)} cannot name a ledger file.`);
  return `${taskId}.json`;
}

/**
 * The local sent-email ledger: one small JSON file per task under `<dataDir>/sent/`, written
 * atomically (temporary file, fsync, rename, fsync of the folder) before `recordSent` resolves.
 *
 * Files rather than a table in the task database: the record must be durable on its own, at the
 * moment the mail server accepted the message, whatever the task store is doing; one file per task
 * needs no locking between worker threads and no schema change in the SQLite store; and it works the
 * way the AWS one will (a put of one item or object per task id).
 *
 * `prune` removes records older than SENT_RECORD_KEEP_SECONDS, as DynamoDB's TTL does on AWS, and the
 * temporary files of writes a crash cut short; the runtime runs it with its retention sweep.
 */
export function makeFileSentLedger(options: {
  dataDir: string;
}): SentEmailLedger & { prune(nowMs: number): Promise<number> } {
  const folder = join(options.dataDir, 'sent');

  return {
    async wasSent(taskId) {
      let text: string;
      try {
        text = await readFile(join(folder, fileName(taskId)), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
      // A file that does not parse is not "not sent": answering null would send the email again.
      const parsed = recordSchema.safeParse(JSON.parse(text));
      if (!parsed.success) {
        throw new Error(
          `The sent-email record of task ${taskId} in ${folder} is not valid: ${parsed.error.message}`,
        );
      }
      return parsed.data;
    },

    async recordSent(taskId: string, record: SentEmailRecord) {
      const path = join(folder, fileName(taskId));
      await mkdir(folder, { recursive: true });
      await writeFileAtomic(path, `${JSON.stringify(record)}\n`);
    },

    async prune(nowMs: number) {
      const temporary = await removeStaleTempFiles(folder, nowMs - STALE_TEMP_FILE_MS);
      // A record file's time is when it was written (a rewrite renews it).
      const records = await removeFilesWrittenBefore(
        folder,
        nowMs - SENT_RECORD_KEEP_SECONDS * 1000,
        RECORD_FILE,
      );
      return temporary + records;
    },
  };
}
