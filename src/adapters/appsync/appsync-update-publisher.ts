import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import type { TaskUpdate } from '../../domain/task.ts';
import type { UpdatePublisher } from '../../ports/update-publisher.ts';
import {
  PUBLISH_TASK_UPDATE_MUTATION,
  publishVariables,
} from '../../handlers/publish-task-update-document.ts';

export interface AppSyncUpdatePublisherOptions {
  /** https://<id>.appsync-api.<region>.amazonaws.com/graphql */
  graphqlUrl: string;
  region: string;
  credentials: AwsCredentialIdentityProvider;
  fetch?: typeof fetch;
}

/**
 * Publishes by calling the IAM-only publishTaskUpdate mutation over HTTPS, signed with SigV4
 * (service `appsync`), which makes AppSync push the update to onTaskUpdated subscribers. The local
 * twin runs the same mutation in-process.
 */
export class AppSyncUpdatePublisher implements UpdatePublisher {
  readonly #options: AppSyncUpdatePublisherOptions;
  readonly #signer: SignatureV4;

  constructor(options: AppSyncUpdatePublisherOptions) {
    this.#options = options;
    this.#signer = new SignatureV4({
      service: 'appsync',
      region: options.region,
      credentials: options.credentials,
      sha256: Sha256,
    });
  }

  async publish(update: TaskUpdate): Promise<void> {
    const url = new URL(this.#options.graphqlUrl);
    const body = JSON.stringify({ query: PUBLISH_TASK_UPDATE_MUTATION, variables: publishVariables(update) });
    const signed = await this.#signer.sign(
      new HttpRequest({
        method: 'POST',
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname,
        headers: { host: url.host, 'content-type': 'application/json' },
        body,
      }),
    );
    const response = await (this.#options.fetch ?? fetch)(url, {
      method: 'POST',
      headers: signed.headers as Record<string, string>,
      body,
    });
    const text = await response.text();
    if (!response.ok)
      throw new Error(`AppSync answered ${response.status} to publishTaskUpdate: ${text.slice(0, 500)}`);
    const result = JSON.parse(text) as { errors?: Array<{ message: string; errorType?: string }> };
    if (result.errors?.length) {
      throw new Error(
        `publishTaskUpdate failed: ${result.errors.map((e) => `${e.errorType ?? 'Error'}: ${e.message}`).join('; ')}`,
      );
    }
  }
}
