/**
 * The isolate simulation the e2e test and the bench share: a real control plane (env storage) with only the first
 * isolate in EDGE_URLS, an HTTP hop in front of its GET /keyset that counts requests per location, and locations
 * of isolates of the deployable bundle under workerd (worker-isolates.ts), all pulling with KEYSET_REVALIDATE.
 */
import { type Harness, startHarness } from './control-plane-harness.ts';
import { type CountingForwarder, startCountingForwarder } from './counting-forwarder.ts';
import { type EdgeAnswer, verifyAt } from './edge-http-client.ts';
import { freePort } from './free-port.ts';
import { KEYSET_VERIFY_KEY } from './keysets.ts';
import { newKeysetKey } from './sign-token.ts';
import { sleep } from './wait-for.ts';
import { bundleWorker, type Isolate, type Location, startLocation } from './worker-isolates.ts';

export interface SimulationOptions {
  locations: number;
  isolatesPerLocation: number;
  revalidateMs: number;
  /** JWT_SECRET: the control plane's first active key. */
  firstSecret: string;
}

export interface OriginCount {
  requests: number;
  notModified: number;
}

export interface Simulation {
  harness: Harness;
  keysetKey: string;
  locations: Location[];
  /** Every isolate; the first is the one the control plane pushes to. */
  isolates: Isolate[];
  /** The origin's requests per location between two performance.now() readings. */
  originRequests(from: number, to: number): Record<string, OriginCount>;
  stop(): Promise<void>;
}

export async function startSimulation(options: SimulationOptions): Promise<Simulation> {
  const stops: (() => Promise<void> | void)[] = [];
  const stop = async () => {
    for (const step of stops.reverse()) {
      try {
        await step();
      } catch {
        // Keep stopping the others.
      }
    }
  };
  try {
    const bundle = await bundleWorker();
    stops.push(() => bundle.remove());
    const keysetKey = newKeysetKey();
    const pushedPort = await freePort();
    const harness = await startHarness({
      keysetKey,
      edgeUrls: [`http://127.0.0.1:${pushedPort}`],
      env: { SECRET_STORAGE: 'env', JWT_SECRET: options.firstSecret },
    });
    stops.push(() => harness.stop());
    const forwarder: CountingForwarder = await startCountingForwarder(harness.keysetUrl);
    stops.push(() => forwarder.close());
    const locations: Location[] = [];
    // One workerd process at a time: two cores.
    for (let index = 0; index < options.locations; index++) {
      const name = `location-${String.fromCharCode(97 + index)}`;
      const location = await startLocation(
        bundle,
        name,
        options.isolatesPerLocation,
        {
          KEYSET_KEY: keysetKey,
          KEYSET_VERIFY_KEY,
          KEYSET_URL: forwarder.urlFor(name),
          KEYSET_REVALIDATE: `${options.revalidateMs}ms`,
        },
        index === 0 ? [pushedPort] : [],
      );
      stops.push(() => location.stop());
      locations.push(location);
    }
    return {
      harness,
      keysetKey,
      locations,
      isolates: locations.flatMap((location) => location.isolates),
      originRequests(from, to) {
        const counts: Record<string, OriginCount> = {};
        for (const location of locations) counts[location.name] = { requests: 0, notModified: 0 };
        for (const request of forwarder.requests) {
          const count = counts[request.label];
          if (count === undefined || request.at < from || request.at > to) continue;
          count.requests++;
          if (request.status === 304) count.notModified++;
        }
        return counts;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface Convergence {
  isolate: string;
  /** ms from `since` until the isolate first answered as expected; NaN if it never did within `giveUpMs`. */
  ms: number;
  last?: EdgeAnswer;
}

/**
 * Asks one isolate POST /verify every `gapMs` until `done(answer)`: requests are what start revalidations, as
 * traffic does on Workers.
 */
export async function converge(
  isolate: Isolate,
  token: string,
  done: (answer: EdgeAnswer) => boolean,
  since: number,
  { gapMs, giveUpMs }: { gapMs: number; giveUpMs: number },
): Promise<Convergence> {
  let last: EdgeAnswer | undefined;
  while (performance.now() - since < giveUpMs) {
    try {
      last = await verifyAt(isolate.url, token);
      if (done(last)) return { isolate: isolate.name, ms: performance.now() - since };
    } catch (error) {
      last = { status: 0, body: { error: (error as Error).message } };
    }
    await sleep(gapMs);
  }
  return { isolate: isolate.name, ms: Number.NaN, last };
}

/** Keeps every isolate busy with `token` for `ms`; rejects on the first answer that is not 200. */
export async function keepBusy(isolates: Isolate[], token: string, ms: number, gapMs: number): Promise<void> {
  const from = performance.now();
  await Promise.all(
    isolates.map(async (isolate) => {
      while (performance.now() - from < ms) {
        const answer = await verifyAt(isolate.url, token);
        if (answer.status !== 200) throw new Error(`${isolate.name} answered ${JSON.stringify(answer)}`);
        await sleep(gapMs);
      }
    }),
  );
}

/** `location-a 5 (5 304), location-b 6 (5 304)` */
export function originText(counts: Record<string, OriginCount>): string {
  return Object.entries(counts)
    .map(([name, count]) => `${name} ${count.requests} (${count.notModified} 304)`)
    .join(', ');
}

export const verified = (answer: EdgeAnswer) => answer.status === 200;
export const refusedAsUnsigned = (answer: EdgeAnswer) =>
  answer.status === 401 && answer.body.error === 'signature_invalid';
