/**
 * Size and range limits, in one place. They match what AWS enforces so that what works locally works
 * on AppSync, Lambda and SQS:
 * - SQS messages and so task payloads: 256 KiB (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html).
 * - AppSync request and response: 1 MB (AppSync quotas; raised from an older 1 MB figure we keep).
 * - AppSync subscription messages: 240 KB; larger ones are dropped silently, so events leave a large
 *   result out (`resultSize` tells the client to query it).
 * - SQS delay: 0..900 s. Lambda timeout: at most 900 s, so a task's timeout is too.
 *
 * GraphQL request limits (the local server enforces them on HTTP and WebSocket before anything runs;
 * `src/appsync/request-limits.ts`). AppSync's own, for comparison
 * (https://docs.aws.amazon.com/appsync/latest/devguide/configuration-limits.html): a query depth limit,
 * off by default and configurable from 1 to 75 levels, and a resolver count limit of 1 to 10,000
 * resolver runs per request (10,000 by default). AppSync documents no alias, token or JSON depth limit;
 * the ones below are stricter than anything AppSync does by default, so a request the local runtime
 * accepts is one AppSync accepts too. Refusals are `QueryTooComplexError` (the query's shape or size)
 * or `ValidationError` (an AWSJSON value nested too deep), each naming the limit and what to change.
 */
export const LIMITS = Object.freeze({
  maxPayloadBytes: 256 * 1024,
  maxRequestBytes: 1024 * 1024,
  maxSubscriptionMessageBytes: 240 * 1024,
  /** Results up to this size travel in events; the rest of the 240 KB leaves room for the other fields. */
  maxResultBytesInEvent: 200 * 1024,
  /** A result larger than this is refused: store large outputs as blobs. */
  maxResultBytes: 350 * 1024,
  maxBatchSubmit: 25,
  delaySeconds: { min: 0, max: 900 },
  maxAttempts: { min: 1, max: 25 },
  timeoutSeconds: { min: 1, max: 900 },
  idempotencyKey: { maxLength: 256, ttlSeconds: 24 * 60 * 60 },
  listLimit: { min: 1, max: 100, default: 20 },
  progressMessageMaxLength: 1024,
  /** Largest upload through createUploadUrl (S3 takes 5 GB in one PUT). */
  maxUploadBytes: 1024 * 1024 * 1024,
  uploadUrlSeconds: 15 * 60,
  downloadUrlSeconds: 60 * 60,
  errorMessageMaxLength: 4096,
  /**
   * Deepest field nesting of an operation, fragments followed. The schema's own data nests 4 levels at
   * most (tasks → items → outputs → key); GraphiQL's standard introspection query nests 15 (its type
   * reference fragment unwraps 8 levels of `ofType`), so 10 would stop GraphiQL from loading the
   * schema. 20 keeps both with room to spare, inside AppSync's 1–75; set AppSync's `queryDepthLimit`
   * to the same value to match. Introspection's expensive cycles (fields → type → fields) are also
   * capped by graphql-js' own MaxIntrospectionDepthRule.
   */
  maxQueryDepth: 20,
  /**
   * Aliases one document may use. Aliases are how a client makes the server run the same resolver many
   * times in one request (500 × `queueStats` is 500 resolver Lambda calls); AppSync bounds that only
   * by its resolver count limit (10,000). Real clients alias a few fields; 30 allows e.g. 30 `task(id)`
   * lookups in one request, and batch submits have `submitTasks` (25 per call).
   */
  maxAliases: 30,
  /**
   * Lexical tokens (names, punctuation, values; comments excluded) one document may have, checked
   * before it is parsed, so a huge document costs a linear scan and no syntax tree. graphql-java, which
   * AppSync runs, stops at 15,000 by default; the largest documents this API needs are far smaller
   * (GraphiQL's introspection query has about 200, a 25-task submitTasks with every field inline about 550),
   * so 5,000 leaves ten times the room.
   */
  maxTokens: 5000,
  /**
   * Deepest nesting of brackets (`{`, `[`, `(`) in a document, checked on the tokens before parsing.
   * graphql-js parses by recursive descent and runs out of stack at about 2,400 nested brackets, which
   * fits within `maxTokens`; a real document nests `maxQueryDepth` selections plus a few levels of
   * input literals, so 100 never gets in the way.
   */
  maxDocumentNesting: 100,
  /**
   * Deepest nesting of arrays and objects in an AWSJSON argument (a task payload). Refused before the
   * JSON is parsed or walked: a payload nested 20,000 levels deep parses in V8 but overflows the stack
   * of every recursive walk after it (the resolver sandbox copy, zod). PROCESS_DATA accepts records
   * and filter values nested 64 levels, which sit up to 4 levels inside the payload
   * (`operations[i].value[j]`), so this limit must be at least 68 or it would refuse payloads the type
   * documents as valid; 100 leaves room for other types' wrappers.
   */
  maxJsonDepth: 100,
  /**
   * How long a queue message is kept, in the task queue and in its dead-letter queue (SQS's largest
   * retention, set on both queues by the stack). Locally, dead-lettered messages are removed after it.
   */
  messageRetentionDays: 14,
});
