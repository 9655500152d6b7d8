import { isoFromMillis } from '../domain/task.ts';

/** When a task that finishes at `nowMs` is removed (like a DynamoDB TTL). */
export function expiryFor(nowMs: number, retentionSeconds: number): string {
  return isoFromMillis(nowMs + retentionSeconds * 1000);
}
