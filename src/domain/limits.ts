/**
 * Size and range limits, in one place. They match what AWS enforces so that what works locally works
 * on AppSync, Lambda and SQS:
 * - SQS messages and so task payloads: 256 KiB (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html).
 * - AppSync request and response: 1 MB (AppSync quotas; raised from an older 1 MB figure we keep).
 * - AppSync subscription messages: 240 KB; larger ones are dropped silently, so events leave a large
 *   result out (`resultSize` tells the client to query it).
 * - SQS delay: 0..900 s. Lambda timeout: at most 900 s, so a task's timeout is too.
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
});
