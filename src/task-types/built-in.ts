import { ConfigurationError } from '../domain/errors.ts';
import type { TaskTypeDefinition } from '../domain/task-type.ts';
import type { Mailer, SentEmailLedger } from '../ports/mailer.ts';
import { imageResizeTaskType } from './image-resize.ts';
import { processDataTaskType } from './process-data/task-type.ts';
import { makeSendEmailTaskType } from './send-email.ts';
import { CUSTOM_TASK_TYPES } from './custom/index.ts';

/** What the built-in types need from the place they run in. */
export interface BuiltInTaskTypeDeps {
  mailer: Mailer;
  ledger: SentEmailLedger;
  /** Sender of emails whose payload names none. */
  defaultFrom: string;
}

/** Every task type this deployment runs: the built-in ones, wired to a mailer, and your own. */
export function builtInTaskTypes(deps: BuiltInTaskTypeDeps): TaskTypeDefinition[] {
  return [
    imageResizeTaskType as TaskTypeDefinition,
    makeSendEmailTaskType({
      mailer: deps.mailer,
      ledger: deps.ledger,
      defaultFrom: deps.defaultFrom,
    }) as TaskTypeDefinition,
    processDataTaskType as TaskTypeDefinition,
    ...CUSTOM_TASK_TYPES,
  ];
}

const noMailer = (): never => {
  throw new ConfigurationError(
    'No mailer is configured here: set SMTP_URL (local) or emailIdentity (AWS) to send SEND_EMAIL tasks.',
  );
};

/** A mailer for places that never send (the API validates payloads only), or where email is not set up. */
export const UNCONFIGURED_MAIL: Pick<BuiltInTaskTypeDeps, 'mailer' | 'ledger'> = Object.freeze({
  mailer: { transport: 'smtp', send: noMailer },
  ledger: { wasSent: noMailer, recordSent: noMailer },
});

/**
 * The built-in types for validating payloads (names, schemas, defaults), as the API needs them. Their
 * handlers run only where a processor wires real deps with {@link builtInTaskTypes}.
 */
export const BUILT_IN_TASK_TYPES: readonly TaskTypeDefinition[] = Object.freeze(
  builtInTaskTypes({ ...UNCONFIGURED_MAIL, defaultFrom: 'unconfigured@invalid.example' }),
);
