import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Logger } from '../../domain/task-type.ts';

/** Our Logger port on Powertools for AWS Lambda's Logger (structured JSON with the request id). */
export function powertoolsLogger(logger: PowertoolsLogger): Logger {
  return {
    debug: (message, fields) => logger.debug(message, fields ?? {}),
    info: (message, fields) => logger.info(message, fields ?? {}),
    warn: (message, fields) => logger.warn(message, fields ?? {}),
    error: (message, fields) => logger.error(message, fields ?? {}),
    child: (fields) =>
      powertoolsLogger(logger.createChild({ persistentKeys: fields as Record<string, string> })),
  };
}
