import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime, tempDataDir, waitFor, type RuntimeProcess } from '../helpers/runtime-process.ts';

let rt: RuntimeProcess;
let dataDir: string;

const TASK = 'id status result error { code message } outputs { key contentType bytes url urlExpiresAt }';

type Output = { key: string; contentType: string; bytes: number; url: string; urlExpiresAt: string };
type TaskAnswer = {
  id: string;
  status: string;
  result: string | null;
  error: { code: string } | null;
  outputs: Output[] | null;
};

async function upload(contentType: string, fileName: string, body: Buffer | string): Promise<string> {
  const { body: answer } = await rt.gql<{ createUploadUrl: { key: string; url: string } }>(
    'mutation ($ct: String!, $fn: String) { createUploadUrl(contentType: $ct, fileName: $fn) { key url } }',
    { ct: contentType, fn: fileName },
  );
  const { key, url } = answer.data!.createUploadUrl;
  const put = await fetch(url, {
    method: 'PUT',
    headers: { 'content-type': contentType },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
  expect(put.status).toBe(200);
  return key;
}

async function runTask(type: string, payload: unknown): Promise<TaskAnswer> {
  // waitFor returns only once the check gives a task.
  const { body } = await rt.gql<{ submitTask: { id: string } }>(
    'mutation ($t: TaskType!, $p: AWSJSON!) { submitTask(input: { type: $t, payload: $p }) { id } }',
    { t: type, p: JSON.stringify(payload) },
  );
  const id = body.data!.submitTask.id;
  return (await waitFor(async () => {
    const { body: answer } = await rt.gql<{ task: TaskAnswer }>(
      `query ($id: ID!) { task(id: $id) { ${TASK} } }`,
      { id },
    );
    const task = answer.data!.task;
    return ['SUCCEEDED', 'FAILED'].includes(task.status) ? task : null;
  }, `${type} to finish`))!;
}

beforeAll(async () => {
  dataDir = tempDataDir();
  rt = await startRuntime(dataDir, { MAIL_FROM: 'reports@example.com' });
});

afterAll(async () => {
  await rt?.stop();
});

describe('the built-in task types end to end through GraphQL', () => {
  it('resizes an uploaded image; the output downloads from Task.outputs with its real dimensions', async () => {
    const image = await sharp({ create: { width: 1600, height: 1200, channels: 3, background: '#3366aa' } })
      .png()
      .toBuffer();
    const key = await upload('image/png', 'photo.png', image);

    const task = await runTask('IMAGE_RESIZE', { image: key, sizes: ['800x600', '160x160'], format: 'webp' });

    expect(task.status).toBe('SUCCEEDED');
    expect(task.outputs).toHaveLength(2);
    const [large, thumb] = task.outputs!;
    const download = await fetch(large!.url);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('image/webp');
    const meta = await sharp(Buffer.from(await download.arrayBuffer())).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['webp', 800, 600]);
    expect(large!.bytes).toBe(Number(download.headers.get('content-length')));
    const thumbMeta = await sharp(Buffer.from(await (await fetch(thumb!.url)).arrayBuffer())).metadata();
    expect([thumbMeta.width, thumbMeta.height]).toEqual([160, 120]);
  });

  it('fails an IMAGE_RESIZE of a blob that is not an image with NOT_AN_IMAGE', async () => {
    const key = await upload('image/png', 'fake.png', 'this is text');
    const task = await runTask('IMAGE_RESIZE', { image: key, size: '10x10' });
    expect(task.status).toBe('FAILED');
    expect(task.error!.code).toBe('NOT_AN_IMAGE');
  });

  it('sends an email into the local outbox with the headers and body asked for, attachment included', async () => {
    const attachment = await upload('text/csv', 'report.csv', 'a,b\n1,2\n');
    const task = await runTask('SEND_EMAIL', {
      to: ['ada@example.com', 'alan@example.com'],
      cc: 'grace@example.com',
      subject: 'Your report',
      text: 'The report is attached.',
      html: '<p>The report is <b>attached</b>.</p>',
      attachments: [{ key: attachment }],
    });

    expect(task.status).toBe('SUCCEEDED');
    const result = JSON.parse(task.result!) as { messageId: string; transport: string; outboxFile: string };
    expect(result.transport).toBe('outbox');
    expect(result.messageId).toBe(`<${task.id}@task-queue>`);
    const files = readdirSync(join(dataDir, 'outbox')).filter((f) => f.includes(task.id));
    expect(files).toHaveLength(1);
    const eml = readFileSync(join(dataDir, 'outbox', files[0]!), 'utf8');
    expect(eml).toMatch(/^From: reports@example\.com$/m);
    expect(eml).toMatch(/^To: ada@example\.com, alan@example\.com$/m);
    expect(eml).toMatch(/^Cc: grace@example\.com$/m);
    expect(eml).toMatch(/^Subject: Your report$/m);
    expect(eml).toContain(`Message-ID: <${task.id}@task-queue>`);
    expect(eml).toContain('The report is attached.');
    expect(eml).toMatch(/filename=report\.csv/);
  });

  it('runs the README example type WORD_COUNT on inline text and on an uploaded file', async () => {
    const inline = await runTask('WORD_COUNT', { text: 'the cat and the hat\nthe end', top: 2 });
    const key = await upload('text/plain', 'book.txt', 'one two two\nthree three three\n');
    const fromFile = await runTask('WORD_COUNT', { key, top: 1 });

    expect(inline.status).toBe('SUCCEEDED');
    expect(JSON.parse(inline.result!)).toEqual({
      lines: 2,
      words: 7,
      characters: 26,
      distinctWords: 5,
      top: [
        { word: 'the', count: 3 },
        { word: 'and', count: 1 },
      ],
    });
    expect(JSON.parse(fromFile.result!)).toMatchObject({
      lines: 2,
      words: 6,
      top: [{ word: 'three', count: 3 }],
    });
  });

  it('refuses a WORD_COUNT payload with both text and key before storing anything', async () => {
    const { body } = await rt.gql(
      'mutation ($p: AWSJSON!) { submitTask(input: { type: WORD_COUNT, payload: $p }) { id } }',
      { p: JSON.stringify({ text: 'a', key: 'uploads/x/y.txt' }) },
    );
    expect(body.errors?.[0]).toMatchObject({ errorType: 'ValidationError' });
    expect(String(body.errors?.[0]?.message)).toContain('give exactly one of "text" or "key"');
  });

  it('runs a CSV pipeline from an uploaded file and writes the result as a CSV blob with its row count', async () => {
    const rows = [
      'name,country,age',
      ...Array.from({ length: 3000 }, (_, i) => `p${i},${['UK', 'FR', 'DE'][i % 3]},${i % 90}`),
    ];
    const key = await upload('text/csv', 'people.csv', `${rows.join('\n')}\n`);

    const task = await runTask('PROCESS_DATA', {
      input: { key, format: 'csv', csv: { cast: true } },
      operations: [
        { op: 'filter', field: 'country', operator: 'eq', value: 'UK' },
        { op: 'select', fields: ['name', 'age'] },
      ],
      output: { format: 'csv', inlineLimitBytes: 1024 },
    });

    expect(task.status).toBe('SUCCEEDED');
    expect(JSON.parse(task.result!)).toMatchObject({ count: 1000 });
    const [output] = task.outputs!;
    expect(output!.key).toBe(`outputs/${task.id}/result.csv`);
    const csv = await (await fetch(output!.url)).text();
    const lines = csv.trim().split('\n');
    expect(lines[0]).toBe('name,age');
    expect(lines).toHaveLength(1001);
    expect(lines[1]).toBe('p0,0');
  });
});
