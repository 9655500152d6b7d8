import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AppSyncUpdatePublisher } from '../../src/adapters/appsync/appsync-update-publisher.ts';
import { updateFromTask } from '../../src/handlers/publish-updates.ts';
import { AUTHORIZATION, CREDENTIALS, FakeAppSync, REGION } from '../helpers/appsync-stand-in.ts';
import { iso, makeTask, T0 } from '../helpers/contract-fixtures.ts';

describe('AppSyncUpdatePublisher against a local AppSync stand-in', () => {
  const appsync = new FakeAppSync();
  let graphqlUrl: string;

  beforeAll(async () => {
    graphqlUrl = await appsync.listen();
  });

  afterAll(async () => {
    await appsync.close();
  });

  beforeEach(() => {
    appsync.seen.length = 0;
    appsync.answer = 'data';
  });

  function publisher(fetchImpl?: typeof fetch): AppSyncUpdatePublisher {
    return new AppSyncUpdatePublisher({
      graphqlUrl,
      region: REGION,
      credentials: async () => CREDENTIALS,
      ...(fetchImpl ? { fetch: fetchImpl } : {}),
    });
  }

  const update = updateFromTask(
    makeTask({
      status: 'RETRYING',
      attempts: 1,
      version: 3,
      updatedAt: iso(T0 + 1000),
      runAt: iso(T0 + 5000),
      error: { code: 'HANDLER_ERROR', message: 'boom', retryable: true, attempt: 1 },
    }),
  );

  it('publishes with a valid SigV4 signature for appsync and selects every Task field but the payload and outputs', async () => {
    await publisher().publish(update);

    expect(appsync.seen).toHaveLength(1);
    const [seen] = appsync.seen;
    expect(seen!.signatureProblems).toEqual([]);
    expect(seen!.authorization).toMatch(AUTHORIZATION);
    expect(seen!.amzDate).toMatch(/^\d{8}T\d{6}Z$/);
    expect(seen!.securityToken).toBe('TOKEN');
    expect(seen!.signedHeaders).toEqual(
      expect.arrayContaining(['host', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256']),
    );
    expect(seen!.queryProblems).toEqual([]);
    expect(seen!.selectionProblems).toEqual([]);
    expect(seen!.variables).toEqual({ input: update });
  });

  it('is refused when the body that arrives is not the body it signed', async () => {
    const tampering: typeof fetch = (input, init) =>
      fetch(input, { ...init, body: String(init?.body).replace('"RETRYING"', '"SUCCEEDED"') });

    const attempt = publisher(tampering).publish(update);

    await expect(attempt).rejects.toThrow(/AppSync answered 403 .*InvalidSignatureException/);
    expect(appsync.seen[0]!.signatureProblems).not.toEqual([]);
  });

  it('throws with the errorType and message of a GraphQL error answer', async () => {
    appsync.answer = 'graphql-error';

    const attempt = publisher().publish(update);

    await expect(attempt).rejects.toThrow(
      'publishTaskUpdate failed: Unauthorized: Not Authorized to access publishTaskUpdate on type Mutation',
    );
  });

  it('throws with the HTTP status when AppSync answers 500', async () => {
    appsync.answer = 'http-500';

    const attempt = publisher().publish(update);

    await expect(attempt).rejects.toThrow(/AppSync answered 500 to publishTaskUpdate/);
  });
});
