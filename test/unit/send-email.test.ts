import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { makeFileSentLedger } from '../../src/adapters/local/file-sent-ledger.ts';
import { makeOutboxMailer } from '../../src/adapters/local/outbox-mailer.ts';
import { makeSmtpMailer } from '../../src/adapters/local/smtp-mailer.ts';
import { ConfigurationError, PermanentTaskError } from '../../src/domain/errors.ts';
import type { Logger, TaskContext } from '../../src/domain/task-type.ts';
import type { BlobStore } from '../../src/ports/blob-store.ts';
import type { Clock } from '../../src/ports/clock.ts';
import type { Mailer, OutgoingEmail, SentEmailLedger } from '../../src/ports/mailer.ts';
import {
  MAX_ATTACHMENT_BYTES,
  makeSendEmailTaskType,
  sendEmailPayloadSchema,
} from '../../src/task-types/send-email.ts';
import type { SendEmailResult } from '../../src/task-types/send-email.ts';
import { MemoryBlobStore } from '../helpers/memory-blob-store.ts';
import { failureOf } from '../helpers/failures.ts';

// ---------------------------------------------------------------------------------------------
// Doubles and helpers
// ---------------------------------------------------------------------------------------------

const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};

const fixedClock: Clock = { now: () => Date.parse('2030-01-02T03:04:05.678Z') };

interface StoredBlob {
  body: Buffer;
  contentType: string | null;
}

/** The shared in-memory BlobStore, holding `blobs`; reads come in 5-byte chunks, so streams have several. */
function memoryBlobs(blobs: Record<string, StoredBlob> = {}): MemoryBlobStore {
  const store = new MemoryBlobStore({ chunkBytes: 5 });
  for (const [key, blob] of Object.entries(blobs)) store.put(key, blob.body, blob.contentType);
  return store;
}

function contextFor(taskId: string, blobs: BlobStore = memoryBlobs(), signal?: AbortSignal): TaskContext {
  return {
    blobs,
    outputPrefix: `outputs/${taskId}/`,
    taskId,
    attempt: 1,
    maxAttempts: 5,
    signal: signal ?? new AbortController().signal,
    progress: () => undefined,
    logger: silentLogger,
  };
}

/** Runs the handler as the runtime does: the payload is parsed by the schema first. */
function run(
  taskType: ReturnType<typeof makeSendEmailTaskType>,
  payload: unknown,
  ctx: TaskContext,
): Promise<SendEmailResult> {
  return Promise.resolve(taskType.handler(sendEmailPayloadSchema.parse(payload), ctx));
}

/** The readable text of a schema rejection, as a client would see it. */
function rejectionOf(payload: unknown): string {
  const result = sendEmailPayloadSchema.safeParse(payload);
  if (result.success) throw new Error('expected the payload to be rejected');
  return z.prettifyError(result.error);
}

// A small MIME reader: enough for the messages nodemailer writes (CRLF, folded headers, multipart).
interface MimePart {
  headers: Map<string, string[]>;
  body: string;
  parts: MimePart[];
}

function parseMime(raw: string): MimePart {
  const split = raw.indexOf('\r\n\r\n');
  const head = split === -1 ? raw : raw.slice(0, split);
  const body = split === -1 ? '' : raw.slice(split + 4);
  const headers = new Map<string, string[]>();
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  const type = headers.get('content-type')?.[0] ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  const parts =
    boundary && type.toLowerCase().startsWith('multipart/') ? splitParts(body, boundary).map(parseMime) : [];
  return { headers, body, parts };
}

function splitParts(body: string, boundary: string): string[] {
  const parts: string[] = [];
  let current: string[] | undefined;
  for (const line of body.split('\r\n')) {
    if (line === `--${boundary}` || line === `--${boundary}--`) {
      if (current) parts.push(current.join('\r\n'));
      current = line.endsWith('--') ? undefined : [];
    } else {
      current?.push(line);
    }
  }
  return parts;
}

const header = (part: MimePart, name: string): string | undefined => part.headers.get(name)?.[0];

function leaves(part: MimePart): MimePart[] {
  return part.parts.length === 0 ? [part] : part.parts.flatMap(leaves);
}

function decoded(part: MimePart): Buffer {
  const encoding = header(part, 'content-transfer-encoding')?.toLowerCase();
  if (encoding === 'base64') return Buffer.from(part.body.replace(/\s+/g, ''), 'base64');
  if (encoding === 'quoted-printable') {
    const bytes = part.body
      .replace(/=\r\n/g, '')
      .replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    return Buffer.from(bytes, 'latin1');
  }
  return Buffer.from(part.body, 'utf8');
}

function bodyOfType(message: MimePart, type: string): string | undefined {
  const part = leaves(message).find(
    (p) =>
      (header(p, 'content-type') ?? 'text/plain').toLowerCase().startsWith(type) &&
      !header(p, 'content-disposition')?.startsWith('attachment'),
  );
  return part && decoded(part).toString('utf8');
}

const addressesIn = (value: string | undefined): string[] => value?.match(/[^\s<>,]+@[^\s<>,]+/g) ?? [];

// A minimal SMTP server on 127.0.0.1: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT.
interface ReceivedMail {
  from: string;
  to: string[];
  data: string;
}

interface FakeSmtpServer {
  url: string;
  received: ReceivedMail[];
  /** The reply to the end of DATA; change it between sends. */
  dataReply: string;
  close(): Promise<void>;
}

async function startSmtpServer(
  options: {
    dataReply?: string;
    rcptReply?: (address: string) => string;
    /** Say nothing at all (no greeting); `onConnect` still runs. */
    silent?: boolean;
    onConnect?: () => void;
  } = {},
): Promise<FakeSmtpServer> {
  const sockets = new Set<Socket>();
  const state: FakeSmtpServer = {
    url: '',
    received: [],
    dataReply: options.dataReply ?? '250 2.0.0 Ok: queued',
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.setEncoding('latin1');
    options.onConnect?.();
    if (options.silent) return;
    const reply = (line: string) => socket.write(`${line}\r\n`);
    let pending = '';
    let mail: { from: string; to: string[] } | undefined;
    let data: string[] | undefined;
    const handle = (line: string) => {
      if (data) {
        if (line !== '.') {
          data.push(line.startsWith('..') ? line.slice(1) : line);
          return;
        }
        if (state.dataReply.startsWith('250') && mail)
          state.received.push({ ...mail, data: data.join('\r\n') });
        data = undefined;
        mail = undefined;
        reply(state.dataReply);
        return;
      }
      const verb = line.slice(0, 4).toUpperCase();
      const address = /<([^>]*)>/.exec(line)?.[1] ?? '';
      if (verb === 'EHLO' || verb === 'HELO') reply('250 fake-smtp greets you');
      else if (verb === 'MAIL') {
        mail = { from: address, to: [] };
        reply('250 2.1.0 Ok');
      } else if (verb === 'RCPT') {
        const answer = options.rcptReply?.(address) ?? '250 2.1.5 Ok';
        if (answer.startsWith('250')) mail?.to.push(address);
        reply(answer);
      } else if (verb === 'DATA') {
        data = [];
        reply('354 End data with <CR><LF>.<CR><LF>');
      } else if (verb === 'RSET' || verb === 'NOOP') reply('250 2.0.0 Ok');
      else if (verb === 'QUIT') socket.end('221 2.0.0 Bye\r\n');
      else reply('502 5.5.2 Command not recognized');
    };
    socket.on('data', (chunk: string) => {
      pending += chunk;
      let end: number;
      while ((end = pending.indexOf('\r\n')) !== -1) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 2);
        handle(line);
      }
    });
    reply('220 fake-smtp ESMTP');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `smtp://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

let dataDir: string;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'send-email-'));
});

afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

const basePayload = {
  to: ['ada@example.com', 'bob@example.com'],
  cc: 'cy@example.com',
  bcc: 'secret@example.com',
  replyTo: 'replies@example.com',
  subject: 'Quarterly report',
  text: 'Hello in plain text.',
  html: '<p>Hello in <b>HTML</b>.</p>',
};

function outboxSetup(options: { ledger?: SentEmailLedger; maxRecipients?: number; clock?: Clock } = {}) {
  const clock = options.clock ?? fixedClock;
  const mailer = makeOutboxMailer({ dataDir, logger: silentLogger });
  const ledger = options.ledger ?? makeFileSentLedger({ dataDir });
  const taskType = makeSendEmailTaskType({
    mailer,
    ledger,
    defaultFrom: 'queue@example.com',
    maxRecipients: options.maxRecipients,
    clock,
  });
  return { mailer, ledger, taskType };
}

async function outboxFiles(): Promise<string[]> {
  try {
    return (await readdir(join(dataDir, 'outbox'))).sort();
  } catch {
    return [];
  }
}

describe('SEND_EMAIL with the outbox mailer', () => {
  it('writes one .eml file named <taskId>.eml with the From, To, Cc, Reply-To, Subject and Message-ID headers', async () => {
    // prepare
    const { taskType } = outboxSetup();

    // act
    const result = await run(taskType, basePayload, contextFor('task-1'));

    // assess
    expect(await outboxFiles()).toEqual(['task-1.eml']);
    const message = parseMime(await readFile(join(dataDir, 'outbox', 'task-1.eml'), 'utf8'));
    expect(addressesIn(header(message, 'from'))).toEqual(['queue@example.com']);
    expect(addressesIn(header(message, 'to'))).toEqual(['ada@example.com', 'bob@example.com']);
    expect(addressesIn(header(message, 'cc'))).toEqual(['cy@example.com']);
    expect(addressesIn(header(message, 'reply-to'))).toEqual(['replies@example.com']);
    expect(header(message, 'subject')).toBe('Quarterly report');
    expect(header(message, 'message-id')).toBe('<task-1@task-queue>');
    expect(result).toEqual({
      messageId: '<task-1@task-queue>',
      accepted: ['ada@example.com', 'bob@example.com', 'cy@example.com', 'secret@example.com'],
      rejected: [],
      transport: 'outbox',
      sentAt: '2030-01-02T03:04:05.678Z',
      outboxFile: join(dataDir, 'outbox', 'task-1.eml'),
    });
  });

  it('writes the text and the html body as alternatives, with CRLF line ends', async () => {
    // prepare
    const { taskType } = outboxSetup();

    // act
    const { outboxFile } = await run(taskType, basePayload, contextFor('task-bodies'));

    // assess
    const raw = await readFile(outboxFile!, 'utf8');
    expect(raw.replace(/\r\n/g, '')).not.toContain('\n');
    const message = parseMime(raw);
    expect(header(message, 'content-type')).toMatch(/^multipart\/alternative/);
    expect(bodyOfType(message, 'text/plain')).toBe('Hello in plain text.');
    expect(bodyOfType(message, 'text/html')).toBe('<p>Hello in <b>HTML</b>.</p>');
  });

  it('keeps bcc recipients out of the headers (they are envelope recipients only)', async () => {
    // prepare
    const { taskType } = outboxSetup();

    // act
    const { outboxFile } = await run(taskType, basePayload, contextFor('task-bcc'));

    // assess
    const raw = await readFile(outboxFile!, 'utf8');
    expect(parseMime(raw).headers.has('bcc')).toBe(false);
    expect(raw).not.toContain('secret@example.com');
  });

  it('uses the payload sender instead of the default one when given', async () => {
    // prepare
    const { taskType } = outboxSetup();

    // act
    const { outboxFile } = await run(
      taskType,
      { ...basePayload, from: 'billing@example.com' },
      contextFor('task-from'),
    );

    // assess
    const message = parseMime(await readFile(outboxFile!, 'utf8'));
    expect(addressesIn(header(message, 'from'))).toEqual(['billing@example.com']);
  });

  it('attaches a blob as a MIME part with its content type, bytes and the last key segment as file name', async () => {
    // prepare
    const pdf = Buffer.from('%PDF-1.7 not really a pdf \u0000\u00ff binary bytes');
    const blobs = memoryBlobs({
      'uploads/u1/report.pdf': { body: pdf, contentType: 'application/pdf' },
      'uploads/u1/data': { body: Buffer.from('a,b\n1,2\n'), contentType: null },
    });
    const { taskType } = outboxSetup();

    // act
    const { outboxFile } = await run(
      taskType,
      {
        ...basePayload,
        html: undefined,
        attachments: [{ key: 'uploads/u1/report.pdf' }, { key: 'uploads/u1/data', filename: 'numbers.csv' }],
      },
      contextFor('task-attach', blobs),
    );

    // assess
    const message = parseMime(await readFile(outboxFile!, 'utf8'));
    expect(header(message, 'content-type')).toMatch(/^multipart\/mixed/);
    const attachments = leaves(message).filter((p) =>
      header(p, 'content-disposition')?.startsWith('attachment'),
    );
    expect(attachments.map((p) => header(p, 'content-disposition'))).toEqual([
      'attachment; filename=report.pdf',
      'attachment; filename=numbers.csv',
    ]);
    expect(header(attachments[0]!, 'content-type')).toMatch(/^application\/pdf/);
    expect(header(attachments[1]!, 'content-type')).toMatch(/^application\/octet-stream/);
    expect(decoded(attachments[0]!)).toEqual(pdf);
    expect(decoded(attachments[1]!).toString()).toBe('a,b\n1,2\n');
    expect(bodyOfType(message, 'text/plain')).toBe('Hello in plain text.');
  });

  it('writes no second file when a task comes back after its file was written but before its sent record', async () => {
    // prepare: the mailer wrote the file, then the process died before the ledger recorded it
    const mailer = makeOutboxMailer({ dataDir, logger: silentLogger });
    const message: OutgoingEmail = {
      taskId: 'task-crash',
      messageId: '<task-crash@task-queue>',
      from: 'queue@example.com',
      to: ['ada@example.com'],
      cc: [],
      bcc: [],
      subject: 'Quarterly report',
      text: 'Hello.',
      attachments: [],
    };
    const first = await mailer.send(message);
    const written = await readFile(first.outboxFile!, 'utf8');

    // act: the re-delivery, in a new instance
    const second = await makeOutboxMailer({ dataDir, logger: silentLogger }).send({
      ...message,
      subject: 'changed meanwhile',
    });

    // assess
    expect(await outboxFiles()).toEqual(['task-crash.eml']);
    expect(second.outboxFile).toBe(first.outboxFile);
    expect(await readFile(first.outboxFile!, 'utf8')).toBe(written);
  });

  it('does not send again when the same task is delivered a second time, and returns the first result', async () => {
    // prepare
    const { taskType } = outboxSetup();
    const first = await run(taskType, basePayload, contextFor('task-again'));

    const aMinuteLater: Clock = { now: () => fixedClock.now() + 60_000 };

    // act: a re-delivery a minute later, handled by a new instance (as after a restart)
    const second = await run(
      outboxSetup({ clock: aMinuteLater }).taskType,
      basePayload,
      contextFor('task-again'),
    );

    // assess
    expect(await outboxFiles()).toEqual(['task-again.eml']);
    expect(second).toEqual(first);
    expect(second.messageId).toBe('<task-again@task-queue>');
  });

  it('records the send in the ledger before it returns', async () => {
    // prepare
    const { taskType, ledger } = outboxSetup();

    // act
    const result = await run(taskType, basePayload, contextFor('task-ledger'));

    // assess
    expect(await ledger.wasSent('task-ledger')).toEqual(result);
    expect(await readdir(join(dataDir, 'sent'))).toEqual(['task-ledger.json']);
  });

  it('fails with ATTACHMENT_NOT_FOUND and sends nothing when an attachment blob is missing', async () => {
    // prepare
    const { taskType, ledger } = outboxSetup();
    const blobs = memoryBlobs({ 'uploads/a.txt': { body: Buffer.from('a'), contentType: 'text/plain' } });

    // act
    const error = await failureOf(
      run(
        taskType,
        { ...basePayload, attachments: [{ key: 'uploads/a.txt' }, { key: 'uploads/gone.txt' }] },
        contextFor('task-missing', blobs),
      ),
    );

    // assess
    expect(error).toBeInstanceOf(PermanentTaskError);
    expect(error).toMatchObject({ code: 'ATTACHMENT_NOT_FOUND' });
    expect(error.message).toContain('uploads/gone.txt');
    expect(await outboxFiles()).toEqual([]);
    expect(await ledger.wasSent('task-missing')).toBeNull();
  });

  it('fails with ATTACHMENT_NOT_FOUND when a blob disappears between its head and its read', async () => {
    // prepare
    const { taskType } = outboxSetup();
    const empty = memoryBlobs();
    const blobs: BlobStore = {
      read: (key) => empty.read(key),
      head: (key) => Promise.resolve({ key, bytes: 1, contentType: 'text/plain' }),
      write: (key, body, options) => empty.write(key, body, options),
      uploadUrl: (key, options) => empty.uploadUrl(key, options),
      downloadUrl: (key, options) => empty.downloadUrl(key, options),
    };

    // act
    const error = await failureOf(
      run(
        taskType,
        { ...basePayload, attachments: [{ key: 'uploads/racy.txt' }] },
        contextFor('task-racy', blobs),
      ),
    );

    // assess
    expect(error).toMatchObject({ name: 'PermanentTaskError', code: 'ATTACHMENT_NOT_FOUND' });
  });

  it('fails with ATTACHMENTS_TOO_LARGE when the attachments together exceed the limit', async () => {
    // prepare
    const { taskType } = outboxSetup();
    const blobs = memoryBlobs({
      'uploads/big.bin': { body: Buffer.alloc(MAX_ATTACHMENT_BYTES + 1), contentType: null },
    });

    // act
    const error = await failureOf(
      run(
        taskType,
        { ...basePayload, attachments: [{ key: 'uploads/big.bin' }] },
        contextFor('task-big', blobs),
      ),
    );

    // assess
    expect(error).toMatchObject({ name: 'PermanentTaskError', code: 'ATTACHMENTS_TOO_LARGE' });
    expect(await outboxFiles()).toEqual([]);
  });

  it('fails with TOO_MANY_RECIPIENTS when a deployment allows fewer recipients than the schema', async () => {
    // prepare
    const { taskType } = outboxSetup({ maxRecipients: 3 });

    // act
    const error = await failureOf(run(taskType, basePayload, contextFor('task-many')));

    // assess
    expect(error).toMatchObject({ name: 'PermanentTaskError', code: 'TOO_MANY_RECIPIENTS' });
    expect(error.message).toContain('4 recipients');
    expect(await outboxFiles()).toEqual([]);
  });

  it('does not send when the task is already aborted', async () => {
    // prepare
    const { taskType } = outboxSetup();
    const controller = new AbortController();
    controller.abort(new Error('cancelled'));

    // act
    const error = await failureOf(
      run(taskType, basePayload, contextFor('task-aborted', memoryBlobs(), controller.signal)),
    );

    // assess
    expect(error).not.toBeInstanceOf(PermanentTaskError);
    expect(error.message).toBe('cancelled');
    expect(await outboxFiles()).toEqual([]);
  });
});

describe('SEND_EMAIL over SMTP', () => {
  let server: FakeSmtpServer | undefined;

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  function smtpSetup(url: string, mailerOptions: { connectionTimeoutMs?: number } = {}) {
    const mailer: Mailer = makeSmtpMailer({ url, logger: silentLogger, ...mailerOptions });
    const ledger = makeFileSentLedger({ dataDir });
    const taskType = makeSendEmailTaskType({
      mailer,
      ledger,
      defaultFrom: 'queue@example.com',
      clock: fixedClock,
    });
    return { ledger, taskType };
  }

  it('delivers the message to the server: envelope with every recipient, headers without Bcc', async () => {
    // prepare
    server = await startSmtpServer();
    const { taskType, ledger } = smtpSetup(server.url);

    // act
    const result = await run(taskType, basePayload, contextFor('smtp-ok'));

    // assess
    expect(server.received).toHaveLength(1);
    const mail = server.received[0]!;
    expect(mail.from).toBe('queue@example.com');
    expect(mail.to).toEqual(['ada@example.com', 'bob@example.com', 'cy@example.com', 'secret@example.com']);
    const message = parseMime(mail.data);
    expect(header(message, 'subject')).toBe('Quarterly report');
    expect(header(message, 'message-id')).toBe('<smtp-ok@task-queue>');
    expect(message.headers.has('bcc')).toBe(false);
    expect(bodyOfType(message, 'text/plain')).toBe('Hello in plain text.');
    expect(bodyOfType(message, 'text/html')).toBe('<p>Hello in <b>HTML</b>.</p>');
    expect(result).toEqual({
      messageId: '<smtp-ok@task-queue>',
      accepted: ['ada@example.com', 'bob@example.com', 'cy@example.com', 'secret@example.com'],
      rejected: [],
      transport: 'smtp',
      sentAt: '2030-01-02T03:04:05.678Z',
    });
    expect(await ledger.wasSent('smtp-ok')).toEqual(result);
  });

  it('reports recipients the server refused while it accepted the message for the others', async () => {
    // prepare
    server = await startSmtpServer({
      rcptReply: (address) => (address === 'bob@example.com' ? '550 5.1.1 No such user' : '250 2.1.5 Ok'),
    });
    const { taskType } = smtpSetup(server.url);

    // act
    const result = await run(taskType, basePayload, contextFor('smtp-partial'));

    // assess
    expect(result.rejected).toEqual(['bob@example.com']);
    expect(result.accepted).toEqual(['ada@example.com', 'cy@example.com', 'secret@example.com']);
    expect(server.received[0]?.to).toEqual(['ada@example.com', 'cy@example.com', 'secret@example.com']);
  });

  it('fails permanently with REJECTED and the server text on a 550 reply', async () => {
    // prepare
    server = await startSmtpServer({ dataReply: '550 5.7.1 Message rejected as spam' });
    const { taskType, ledger } = smtpSetup(server.url);

    // act
    const error = await failureOf(run(taskType, basePayload, contextFor('smtp-550')));

    // assess
    expect(error).toBeInstanceOf(PermanentTaskError);
    expect(error).toMatchObject({ code: 'REJECTED' });
    expect(error.message).toContain('550 5.7.1 Message rejected as spam');
    expect(await ledger.wasSent('smtp-550')).toBeNull();
  });

  it('fails with a retryable error on a 451 reply, and the retry sends once the server accepts', async () => {
    // prepare
    server = await startSmtpServer({ dataReply: '451 4.3.0 Try again later' });
    const { taskType, ledger } = smtpSetup(server.url);

    // act
    const error = await failureOf(run(taskType, basePayload, contextFor('smtp-451')));
    server.dataReply = '250 2.0.0 Ok: queued';
    const retry = await run(taskType, basePayload, contextFor('smtp-451'));

    // assess
    expect(error).not.toBeInstanceOf(PermanentTaskError);
    expect(error.message).toContain('451 4.3.0 Try again later');
    expect(server.received).toHaveLength(1);
    expect(retry.messageId).toBe('<smtp-451@task-queue>');
    expect(await ledger.wasSent('smtp-451')).toEqual(retry);
  });

  it('fails with a retryable error when the connection is refused', async () => {
    // prepare
    const { taskType, ledger } = smtpSetup(`smtp://127.0.0.1:${await closedPort()}`);

    // act
    const error = await failureOf(run(taskType, basePayload, contextFor('smtp-refused')));

    // assess
    expect(error).not.toBeInstanceOf(PermanentTaskError);
    expect(error.message).toMatch(/ECONNREFUSED/);
    expect(await ledger.wasSent('smtp-refused')).toBeNull();
  });

  it('stops waiting for the server when the task signal aborts, with a retryable error', async () => {
    // prepare: the server accepts the connection and never greets; the task is aborted then
    const controller = new AbortController();
    server = await startSmtpServer({ silent: true, onConnect: () => controller.abort(new Error('timeout')) });
    const { taskType, ledger } = smtpSetup(server.url);

    // act
    const error = await failureOf(
      run(taskType, basePayload, contextFor('smtp-abort', memoryBlobs(), controller.signal)),
    );

    // assess
    expect(error).not.toBeInstanceOf(PermanentTaskError);
    expect(error.name).toBe('AbortError');
    expect(await ledger.wasSent('smtp-abort')).toBeNull();
  });

  it('sends an attachment from the blob store over SMTP', async () => {
    // prepare
    server = await startSmtpServer();
    const { taskType } = smtpSetup(server.url);
    const image = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 1, 2, 3]);
    const blobs = memoryBlobs({ 'uploads/pic.png': { body: image, contentType: 'image/png' } });

    // act
    await run(
      taskType,
      { ...basePayload, attachments: [{ key: 'uploads/pic.png' }] },
      contextFor('smtp-att', blobs),
    );

    // assess
    const message = parseMime(server.received[0]!.data);
    const part = leaves(message).find((p) => header(p, 'content-type')?.startsWith('image/png'));
    expect(part && decoded(part)).toEqual(image);
  });

  it('refuses an SMTP_URL that is not smtp:// or smtps://', () => {
    // act + assess
    expect(() => makeSmtpMailer({ url: 'http://mail.example.com', logger: silentLogger })).toThrow(
      ConfigurationError,
    );
    expect(() => makeSmtpMailer({ url: 'not a url', logger: silentLogger })).toThrow(/SMTP_URL/);
  });
});

describe('the SEND_EMAIL payload schema', () => {
  it('rejects an address that is not an email address, naming the field', () => {
    expect(rejectionOf({ ...basePayload, cc: ['cy@example.com', 'not-an-address'] })).toMatch(
      /must be an email address[\s\S]*cc/,
    );
  });

  it('rejects 51 recipients across to, cc and bcc', () => {
    const to = Array.from({ length: 30 }, (_, i) => `to${i}@example.com`);
    const bcc = Array.from({ length: 21 }, (_, i) => `bcc${i}@example.com`);
    expect(rejectionOf({ to, bcc, subject: 'Hi', text: 'Hello' })).toContain(
      'at most 50 recipients in to, cc and bcc together',
    );
  });

  it('rejects a message without a body', () => {
    expect(rejectionOf({ to: 'ada@example.com', subject: 'Hi' })).toContain(
      'give a body: "text", "html" or both',
    );
  });

  it('rejects an attachment key that is not a safe blob key', () => {
    expect(rejectionOf({ ...basePayload, attachments: [{ key: '../../etc/passwd' }] })).toMatch(
      /must be a blob key: must not contain empty, "\." or "\.\." segments[\s\S]*attachments/,
    );
  });
});

describe('the SEND_EMAIL factory', () => {
  it('refuses a default sender that is not an email address', () => {
    const { mailer, ledger } = outboxSetup();
    expect(() => makeSendEmailTaskType({ mailer, ledger, defaultFrom: 'nobody' })).toThrow(
      ConfigurationError,
    );
  });
});

describe('the file sent-email ledger', () => {
  it('answers null for a task it has no record of', async () => {
    expect(await makeFileSentLedger({ dataDir }).wasSent('never-sent')).toBeNull();
  });

  it('keeps a record across instances, without leaving temporary files behind', async () => {
    // prepare
    const record = {
      messageId: '<t@task-queue>',
      sentAt: '2030-01-02T03:04:05.678Z',
      transport: 'smtp' as const,
      accepted: ['a@example.com'],
      rejected: [],
    };

    // act
    await makeFileSentLedger({ dataDir }).recordSent('t', record);

    // assess
    expect(await makeFileSentLedger({ dataDir }).wasSent('t')).toEqual(record);
    expect(await readdir(join(dataDir, 'sent'))).toEqual(['t.json']);
  });

  it('throws on a damaged record instead of answering "not sent" (which would send again)', async () => {
    // prepare
    await mkdir(join(dataDir, 'sent'), { recursive: true });
    await writeFile(join(dataDir, 'sent', 'damaged.json'), '{"messageId": 42}');

    // act
    const error = await failureOf(makeFileSentLedger({ dataDir }).wasSent('damaged'));

    // assess
    expect(error.message).toContain('damaged');
  });

  it('refuses a task id that could name a file outside its folder', async () => {
    const error = await failureOf(makeFileSentLedger({ dataDir }).wasSent('../escape'));
    expect(error.message).toContain('cannot name a ledger file');
  });
});
