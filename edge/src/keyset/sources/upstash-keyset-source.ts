/** Pulls `jwt_secrets:keyset` (SPEC section 4) through the Upstash Redis REST API. */
import { Redis, type Requester, type UpstashRequest, type UpstashResponse } from '@upstash/redis';
import { MAX_ENVELOPE_BYTES } from '../../../../shared/keyset-envelope.ts';
import { EdgeError } from '../../errors.ts';
import { readBodyText } from '../../http/read-body.ts';
import type { KeysetSource } from './keyset-source.ts';
import { PULL_TIMEOUT_MS } from './keyset-source.ts';
import { refuseRedirect } from './refuse-redirect.ts';

export const KEYSET_REDIS_KEY = 'jwt_secrets:keyset';

/** The envelope inside `{"result": …}`: it is ASCII that JSON does not escape, so a little room is enough. */
const MAX_ANSWER_BYTES = MAX_ENVELOPE_BYTES + 1024;

export class UpstashKeysetSource implements KeysetSource {
  readonly name = 'UPSTASH_REDIS_REST_URL';
  readonly #redis: Redis;

  constructor(url: string, token: string, fetchImpl: typeof fetch = (input, init) => fetch(input, init)) {
    this.#redis = upstashClient(url, token, fetchImpl, this.name, MAX_ANSWER_BYTES);
  }

  async pull(): Promise<string> {
    const value = await this.#redis.get<string>(KEYSET_REDIS_KEY);
    // An emptied database or the wrong db index must not keep an edge looking fresh.
    if (typeof value !== 'string') throw new EdgeError('pull_failed', `${KEYSET_REDIS_KEY} is not set`);
    return value;
  }
}

/**
 * A @upstash/redis client for `url`. The client's own HTTP transport follows redirects and reads whole answers,
 * however far they inflate. This one asks `url` only, never follows a redirect, and stops reading past
 * `maxAnswerBytes` as the body is decoded. No retries: a failed pull is retried by the next trigger (TTL, cron,
 * unknown kid), not by stalling a request. `name` is the source's, for errors.
 */
export function upstashClient(
  url: string,
  token: string,
  fetchImpl: typeof fetch,
  name: string,
  maxAnswerBytes: number,
): Redis {
  const base = url.replace(/\/$/, '');
  const requester: Requester = {
    request: async <T>(request: UpstashRequest): Promise<UpstashResponse<T>> => {
      const response = await fetchImpl([base, ...(request.path ?? [])].join('/'), {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(request.body),
        redirect: 'manual',
        signal: AbortSignal.timeout(PULL_TIMEOUT_MS),
      });
      await refuseRedirect(response, name);
      if (response.status !== 200) {
        await response.body?.cancel();
        throw new EdgeError('pull_failed', `${name} answered ${response.status}`);
      }
      const text = await readBodyText(response, maxAnswerBytes);
      try {
        return JSON.parse(text ?? '') as UpstashResponse<T>;
      } catch {
        throw new EdgeError('pull_failed', `${name} answered a body that is not JSON`);
      }
    },
  };
  return new Redis(requester);
}
