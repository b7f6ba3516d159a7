/**
 * Where one push's time goes, part by part, in this process: the control plane's seal, a Valkey round trip, the
 * edge's open (AES-GCM decrypt, Ed25519 manifest check, keyset parse with its thumbprints) and, inside it, each
 * of the two checks alone, key import, the edge's whole PUT /keyset through its Hono app, the same PUT over
 * loopback to an idle Node edge process, and, as the floor under that, to a bare node:http server that only reads
 * the body and answers (no open, no take). Each part is timed alone, one call at a time, so the parts (the two
 * checks counted once, inside the open) add up to what one edge adds to RotateSecret.
 */
import {
  createCipheriv,
  createDecipheriv,
  generateKeyPairSync,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { Valkey } from 'iovalkey';
import { EdgePusher } from '../../control-plane/src/push/edge-pusher.ts';
import { createEdge } from '../../edge/src/create-edge.ts';
import { prepareKeyRing } from '../../shared/key-ring.ts';
import { type Keyset, rotateKeyset } from '../../shared/keyset.ts';
import { openingKeys, openKeyset, sealKeyset } from '../../shared/keyset-envelope.ts';
import { computeKid } from '../../shared/kid.ts';
import { nodeEnvelopeCrypto, nodeSealingCrypto } from '../../shared/runtime/node-envelope.ts';
import { nodeVerify } from '../../shared/runtime/node-verify.ts';
import { ROOT, startNodeEdge } from '../../test/support/edge-processes.ts';
import { KEYSET_VERIFY_KEY, sealingKeys } from '../../test/support/keysets.ts';
import { startProcess } from '../../test/support/managed-process.ts';
import { newSecret } from '../../test/support/sign-token.ts';
import { quantile } from '../../test/support/stats.ts';
import { waitForOutput } from '../../test/support/wait-for-output.ts';
import { edgeLogFiles } from './edge-log-files.ts';

export interface PushPart {
  part: string;
  p50Ms: number;
  p90Ms: number;
}

export interface PushBreakdown {
  /** Keys in the keyset pushed: an active key and previous keys in grace. */
  keys: number;
  envelopeBytes: number;
  calls: number;
  parts: PushPart[];
}

/** `keys` HS256 keys, as an edge holds them after `keys - 1` rotations inside the grace period. */
async function keysetOf(keys: number, version: number): Promise<Keyset> {
  let keyset: Keyset | null = null;
  const now = Date.now();
  for (let i = 0; i < keys; i++) {
    const secret = newSecret();
    keyset = rotateKeyset(
      keyset,
      { secret, kid: await computeKid(secret) },
      { now: new Date(now - (keys - i) * 60_000), gracePeriodMs: 24 * 3_600_000 },
    );
  }
  return { ...(keyset as Keyset), version };
}

async function timed(calls: number, run: (i: number) => Promise<unknown>): Promise<number[]> {
  // Warm: the JIT, connections, imported verify keys.
  for (let i = 0; i < 20; i++) await run(i);
  const samples: number[] = [];
  for (let i = 0; i < calls; i++) {
    const start = performance.now();
    await run(i + 20);
    samples.push(performance.now() - start);
  }
  return samples;
}

/** Times each part `calls` times; `valkeyUrl` is a running valkey-server. */
export async function measurePushBreakdown(options: {
  valkeyUrl: string;
  calls: number;
  keys: number;
}): Promise<PushBreakdown> {
  const { calls, keys } = options;
  const keysetKey = crypto.getRandomValues(new Uint8Array(32));
  const sealing = await sealingKeys(keysetKey);
  const keysetKeyText = Buffer.from(keysetKey).toString('base64url');
  // One envelope per call and version, each newer than the last, as rotations push them.
  const total = 4 * (calls + 20) + 1;
  const keyset = await keysetOf(keys, 1);
  const envelopes: string[] = [];
  for (let version = 1; version <= total; version++) {
    envelopes.push(await sealKeyset({ ...keyset, version }, sealing));
  }
  const verifyKey = Buffer.from(KEYSET_VERIFY_KEY, 'base64url');
  const opening = openingKeys([keysetKey], [verifyKey]);
  const openingSync = openingKeys([keysetKey], [verifyKey], nodeEnvelopeCrypto);
  const inProcessEdge = createEdge({
    env: { KEYSET_KEY: keysetKeyText, KEYSET_VERIFY_KEY },
    primitive: nodeVerify,
    log: () => {},
  });
  const valkey = new Valkey(options.valkeyUrl);
  const logFiles = edgeLogFiles('push-breakdown');
  const edge = await startNodeEdge({ keysetKey: keysetKeyText, outputFile: logFiles.next() });
  const bare = startProcess(
    'bare PUT /keyset',
    process.execPath,
    [join(ROOT, 'bench/servers/bare-keyset-put.ts')],
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0' },
    },
  );
  const agent = new Agent({ keepAlive: true });
  const put = (envelope: string, url = edge.url) =>
    new Promise<void>((resolve, reject) => {
      const request = httpRequest(
        `${url}/keyset`,
        {
          method: 'PUT',
          agent,
          headers: { 'content-type': 'application/jose', 'content-length': Buffer.byteLength(envelope) },
        },
        (response) => {
          response.resume();
          response.on('end', () =>
            response.statusCode === 200 ? resolve() : reject(new Error(`PUT: HTTP ${response.statusCode}`)),
          );
        },
      );
      request.on('error', reject);
      request.end(envelope);
    });
  try {
    const parts: [string, number[]][] = [];
    const add = async (part: string, run: (i: number) => Promise<unknown>) => {
      parts.push([part, await timed(calls, run)]);
    };
    await add('control plane: sealKeyset, WebCrypto (manifest signed, JWE encrypted)', () =>
      sealKeyset(keyset, sealing),
    );
    await add('control plane: sealKeyset, node:crypto (what the control plane seals with)', () =>
      sealKeyset(keyset, { ...sealing, crypto: nodeSealingCrypto }),
    );
    await add('control plane: one Valkey round trip (PING)', () => valkey.ping());
    await add('edge: openKeyset, WebCrypto (decrypt, manifest check, parse; workerd, Deno)', (i) =>
      openKeyset(envelopes[i % envelopes.length] as string, opening),
    );
    await add('edge: openKeyset, node:crypto (Node and Bun edges)', (i) =>
      openKeyset(envelopes[i % envelopes.length] as string, openingSync),
    );
    // The two checks SPEC section 9 asks of every envelope, alone: what no edge can leave out of its open.
    const signed = Buffer.from(envelopes[0] as string);
    const ed25519 = generateKeyPairSync('ed25519');
    const signature = sign(null, signed, ed25519.privateKey);
    await add(
      'edge: of that open, the Ed25519 manifest check alone (node:crypto, as many bytes)',
      async () => {
        if (!verify(null, signed, ed25519.publicKey, signature)) throw new Error('Ed25519: not verified');
      },
    );
    const aesKey = randomBytes(32);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', aesKey, iv);
    const ciphertext = Buffer.concat([cipher.update(signed), cipher.final()]);
    const tag = cipher.getAuthTag();
    await add('edge: of that open, the AES-256-GCM decrypt alone (node:crypto, as many bytes)', async () => {
      const decipher = createDecipheriv('aes-256-gcm', aesKey, iv);
      decipher.setAuthTag(tag);
      decipher.update(ciphertext);
      decipher.final();
    });
    await add('edge: prepareKeyRing (keys imported, node:crypto)', () => prepareKeyRing(keyset, nodeVerify));
    let version = 0;
    await add('edge: PUT /keyset in-process (Hono, open, take)', async () => {
      const body = envelopes[version++] as string;
      const answer = await inProcessEdge.fetch(new Request('http://edge/keyset', { method: 'PUT', body }));
      if (answer.status !== 200) throw new Error(`PUT in-process: HTTP ${answer.status}`);
      await answer.text();
    });
    let wire = 0;
    await add('edge: PUT /keyset over loopback (node:http, keep-alive)', () =>
      put(envelopes[wire++] as string),
    );
    const barePort = (await waitForOutput(bare, /listening on port (\d+)/))[1];
    await add('floor: the same PUT to a bare node:http server (reads the body, answers; loopback)', (i) =>
      put(envelopes[i % envelopes.length] as string, `http://127.0.0.1:${barePort}`),
    );
    // The control plane's pusher, one edge: its transport, the answer's checks and the inventory update.
    const stored = (i: number) => ({
      keyset: { ...keyset, version: i + 1 },
      envelope: envelopes[i] as string,
    });
    for (const [part, options] of [
      ['control plane: EdgePusher.pushAll to that edge (node:http keep-alive transport)', {}],
      ['control plane: EdgePusher.pushAll to that edge (fetch, as before)', { fetch }],
    ] as const) {
      const pusher = new EdgePusher({ urls: [edge.url], retries: 0, backgroundRetries: 0, ...options });
      try {
        await add(part, async () => {
          const [outcome] = await pusher.pushAll(stored(wire++));
          if (!outcome?.confirmed) throw new Error(`push: ${outcome?.error}`);
        });
      } finally {
        pusher.stop();
      }
    }
    return {
      keys,
      envelopeBytes: (envelopes[0] as string).length,
      calls,
      parts: parts.map(([part, samples]) => ({
        part,
        p50Ms: quantile(samples, 0.5),
        p90Ms: quantile(samples, 0.9),
      })),
    };
  } finally {
    agent.destroy();
    valkey.disconnect();
    await edge.stop();
    logFiles.remove();
    await bare.stop();
  }
}
