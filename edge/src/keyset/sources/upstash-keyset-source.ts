/** Pulls `jwt_secrets:keyset` (SPEC section 4) through the Upstash Redis REST API. */
import { Redis } from '@upstash/redis';
import { EdgeError } from '../../errors.ts';
import type { KeysetSource } from './keyset-source.ts';
import { PULL_TIMEOUT_MS } from './keyset-source.ts';

export const KEYSET_REDIS_KEY = 'jwt_secrets:keyset';

export class UpstashKeysetSource implements KeysetSource {
  readonly name = 'UPSTASH_REDIS_REST_URL';
  readonly #redis: Redis;

  constructor(url: string, token: string) {
    this.#redis = new Redis({
      url,
      token,
      // The envelope is a JWE string; the default would try JSON.parse on it.
      automaticDeserialization: false,
      enableTelemetry: false,
      // A failed pull is retried by the next trigger (TTL, cron, unknown kid), not by stalling a request.
      retry: false,
      signal: () => AbortSignal.timeout(PULL_TIMEOUT_MS),
    });
  }

  async pull(): Promise<string> {
    const value = await this.#redis.get<string>(KEYSET_REDIS_KEY);
    // An emptied database or the wrong db index must not keep an edge looking fresh.
    if (typeof value !== 'string') throw new EdgeError('pull_failed', `${KEYSET_REDIS_KEY} is not set`);
    return value;
  }
}
