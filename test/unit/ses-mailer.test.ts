import { describe, expect, it } from 'vitest';
import type { SESv2Client } from '@aws-sdk/client-sesv2';
import { makeSesMailer } from '../../src/adapters/ses/ses-mailer.ts';
import { EmailRejectedError } from '../../src/ports/mailer.ts';
import { recordingLogger } from '../helpers/contract-fixtures.ts';

// There is no SES emulator on npm that we trust, so this checks the adapter at the SDK boundary:
// what SendEmailCommand carries, and how SES's answers map onto the port.
function fakeSes(answer: (input: Record<string, unknown>) => Promise<unknown>) {
  const inputs: Array<Record<string, unknown>> = [];
  const client = {
    config: { region: async () => 'us-east-1' },
    send: async (command: { input: Record<string, unknown> }) => {
      inputs.push(command.input);
      return answer(command.input);
    },
  };
  return { client: client as unknown as SESv2Client, inputs };
}

const message = {
  taskId: 't-1',
  messageId: '<t-1@task-queue>',
  from: 'noreply@example.com',
  to: ['ada@example.com'],
  cc: [],
  bcc: ['audit@example.com'],
  subject: 'Report ready',
  text: 'Hello Ada',
  attachments: [],
};

describe('the SES mailer', () => {
  it('sends the raw MIME message through SES v2 SendEmail and returns the Message-ID SES assigned', async () => {
    const ses = fakeSes(async () => ({ MessageId: '0100018f-abc' }));
    const mailer = makeSesMailer({ ses: ses.client, logger: recordingLogger() });

    const sent = await mailer.send(message as never);

    expect(mailer.transport).toBe('ses');
    const raw = Buffer.from((ses.inputs[0]!['Content'] as { Raw: { Data: Uint8Array } }).Raw.Data).toString();
    expect(raw).toMatch(/^Subject: Report ready$/m);
    expect(raw).toMatch(/^To: ada@example\.com$/m);
    expect(raw).not.toMatch(/^Bcc:/m);
    expect(raw).toContain('Hello Ada');
    expect(sent.messageId).toContain('0100018f-abc');
    expect(sent.accepted).toEqual(expect.arrayContaining(['ada@example.com', 'audit@example.com']));
  });

  it('maps a MessageRejected answer to EmailRejectedError and other failures to retryable errors', async () => {
    const rejecting = makeSesMailer({
      ses: fakeSes(async () => {
        throw Object.assign(new Error('Email address is not verified.'), { name: 'MessageRejected' });
      }).client,
      logger: recordingLogger(),
    });
    const throttled = makeSesMailer({
      ses: fakeSes(async () => {
        throw Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' });
      }).client,
      logger: recordingLogger(),
    });

    await expect(rejecting.send(message as never)).rejects.toBeInstanceOf(EmailRejectedError);
    const error = await throttled.send(message as never).catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(EmailRejectedError);
    expect(String(error)).toContain('Rate exceeded');
  });
});
