import { expect } from 'vitest';
import { PermanentTaskError } from '../../src/domain/errors.ts';

/** The error `promise` rejects with; the test fails when it resolves instead. */
export async function failureOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure, but the promise resolved');
}

/** The PermanentTaskError a task handler rejects with; the test fails on anything else. */
export async function permanentFailureOf(promise: Promise<unknown>): Promise<PermanentTaskError> {
  const error = await failureOf(promise);
  expect(error).toBeInstanceOf(PermanentTaskError);
  return error as PermanentTaskError;
}
