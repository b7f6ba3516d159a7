/** The `code` of the KeywardError a promise rejects with; fails the test on any other outcome. */
import { expect } from 'vitest';
import { KeywardError } from '../../shared/errors.ts';

export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(KeywardError);
    return (error as KeywardError).code;
  }
  throw new Error('expected a rejection');
}
