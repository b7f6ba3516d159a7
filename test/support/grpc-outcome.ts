/** A gRPC call settled into its response or its ServiceError, and the assertion on a status. */
import { type ServiceError, status } from '@grpc/grpc-js';
import { expect } from 'vitest';

export type Outcome<T> = { error: ServiceError; response?: undefined } | { error?: undefined; response: T };

/** Settles `call` into an Outcome; anything thrown that is not a gRPC status is thrown on. */
export function settle<T>(call: Promise<T>): Promise<Outcome<T>> {
  return call.then(
    (response) => ({ response }),
    (error: unknown) => {
      if (typeof (error as ServiceError | undefined)?.code !== 'number') throw error;
      return { error: error as ServiceError };
    },
  );
}

/** The call ended with exactly `code`; its details contain `details` (a string) or match it (a RegExp). */
export function expectStatus(outcome: Outcome<unknown>, code: status, details?: string | RegExp): void {
  expect(outcome.error ? status[outcome.error.code] : 'OK', `expected status ${status[code]}`).toBe(
    status[code],
  );
  if (typeof details === 'string') expect(outcome.error?.details).toContain(details);
  else if (details) expect(outcome.error?.details).toMatch(details);
}
