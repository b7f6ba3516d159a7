/**
 * Replacing KEYSET_SIGNING_KEY and KEYSET_KEY without downtime (README, Operations): two Node edge entry
 * processes already accept the old and the new key of each (comma-separated); under continuous POST /verify
 * load with valid tokens, the control plane stops and starts again with only the new keys, re-seals the stored
 * keyset at start and pushes it; the edges take it; a rotation under the new keys reaches them too; an edge
 * given only the new keys takes what the control plane now serves, and one given only the old keys does not.
 * Not one valid token may be answered anything but 200.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VALKEY_KEYS } from '../../control-plane/src/storage/valkey-storage.ts';
import { generateSigningPair } from '../../shared/keyset-signing-key.ts';
import { computeKid } from '../../shared/kid.ts';
import { type Harness, startHarness } from '../support/control-plane-harness.ts';
import { edgeVersion, putKeyset, verifyAt } from '../support/edge-http-client.ts';
import { type EdgeProcess, startNodeEdge } from '../support/edge-processes.ts';
import { freePort } from '../support/free-port.ts';
import { signWithJose } from '../support/keysets.ts';
import { newKeysetKey, newSecret } from '../support/sign-token.ts';
import { connectAdmin } from '../support/valkey-layout.ts';
import { startValkey, type ValkeyServer } from '../support/valkey-server.ts';
import { waitFor } from '../support/wait-for.ts';

const CONNECTIONS_PER_EDGE = 4;

describe('replacing the signing key and KEYSET_KEY under load', () => {
  let valkey: ValkeyServer;
  let harness: Harness | undefined;
  const edges: EdgeProcess[] = [];

  beforeAll(async () => {
    valkey = await startValkey();
  });

  afterAll(async () => {
    await harness?.stop();
    for (const edge of edges) await edge.stop();
    await valkey?.stop();
  });

  it('loses not one request while the control plane moves to the new keys', async () => {
    const [oldPair, newPair] = [await generateSigningPair(), await generateSigningPair()];
    const [oldKey, newKey] = [newKeysetKey(), newKeysetKey()];
    const first = newSecret();
    const admin = await connectAdmin(valkey.url);
    await admin.set(VALKEY_KEYS.active, first);
    admin.disconnect();

    // Step 1 of the move, done beforehand: every edge accepts the old key and the new one, each.
    const ports = [await freePort(), await freePort()];
    const edgeUrls = ports.map((port) => `http://127.0.0.1:${port}`);
    const both = { keysetKey: `${oldKey},${newKey}`, verifyKey: `${oldPair.verifyKey},${newPair.verifyKey}` };
    for (const port of ports) edges.push(await startNodeEdge({ ...both, port }));
    const start = { valkeyUrl: valkey.url, edgeUrls, adminToken: randomBytes(48).toString('base64url') };
    harness = await startHarness({ ...start, keysetKey: oldKey, signingKey: oldPair.signingKey });
    const v1 = Number((await harness.getKeyset()).version);
    for (const url of edgeUrls) {
      await waitFor(async () => ((await edgeVersion(url)) >= v1 ? true : undefined), {
        what: `${url} holding version ${v1}`,
        timeoutMs: 15_000,
      });
    }

    const tokens = [await signWithJose(first, { sub: 'load' }, { kid: await computeKid(first) })];
    const answers = new Map<number, number>();
    let running = true;
    const loops = edgeUrls.flatMap((url) =>
      Array.from({ length: CONNECTIONS_PER_EDGE }, async (_, index) => {
        for (let i = index; running; i++) {
          const token = tokens[i % tokens.length] as string;
          const status = await verifyAt(url, token).then(
            (answer) => answer.status,
            () => 0,
          );
          answers.set(status, (answers.get(status) ?? 0) + 1);
        }
      }),
    );

    try {
      // Step 2: the control plane restarts with the new keys only; it re-seals at start and pushes.
      await harness.stop();
      harness = undefined;
      harness = await startHarness({ ...start, keysetKey: newKey, signingKey: newPair.signingKey });
      const resealed = Number((await harness.getKeyset()).version);
      expect(resealed).toBe(v1 + 1);
      // Step 3: wait for every edge to confirm.
      for (const url of edgeUrls) {
        await waitFor(async () => ((await edgeVersion(url)) >= resealed ? true : undefined), {
          what: `${url} taking the re-sealed keyset`,
          timeoutMs: 15_000,
        });
      }
      // A rotation sealed and signed with the new keys reaches every edge; its tokens join the load.
      const second = newSecret();
      const rotated = await harness.rotate(second);
      expect(rotated.success).toBe(true);
      for (const url of edgeUrls) expect(await edgeVersion(url)).toBe(Number(rotated.version));
      tokens.push(await signWithJose(second, { sub: 'load' }, { kid: await computeKid(second) }));
      const before = [...answers.values()].reduce((sum, n) => sum + n, 0);
      await waitFor(
        async () => ([...answers.values()].reduce((sum, n) => sum + n, 0) > before + 200 ? true : undefined),
        {
          what: 'load on the rotated keyset',
          timeoutMs: 30_000,
        },
      );
    } finally {
      running = false;
      await Promise.all(loops);
    }
    expect(Object.fromEntries(answers)).toEqual({ 200: expect.any(Number) });
    expect(answers.get(200)).toBeGreaterThan(200);
    console.info(`key replacement under load: ${answers.get(200)} answers, all 200`);

    // Step 4, dropping the old keys: an edge with only the new ones takes what is served now...
    const envelope = await harness.fetchEnvelope();
    const newOnly = await startNodeEdge({ keysetKey: newKey, verifyKey: newPair.verifyKey });
    edges.push(newOnly);
    expect((await putKeyset(newOnly.url, envelope)).status).toBe(200);
    // ...and an edge with only the old ones refuses it, unsigned by its key.
    const oldOnly = await startNodeEdge({ keysetKey: `${oldKey},${newKey}`, verifyKey: oldPair.verifyKey });
    edges.push(oldOnly);
    expect(await putKeyset(oldOnly.url, envelope)).toEqual({
      status: 401,
      body: { error: 'envelope_signature_invalid' },
    });
  });
});
