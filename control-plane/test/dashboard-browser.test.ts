/**
 * The operator dashboard in a real headless Chromium (the machine's, driven by playwright-core) against a real
 * control plane over valkey-server with a real edge on loopback: a wrong token sees nothing; the right one sees
 * the keys, the edge and the audit timeline, and a rotation made over gRPC shows without a reload (server-sent
 * events), one made through another replica too; a staged key pair shows as standby and no snapshot carries key
 * material; a token a reload replaced closes the open page. Waits are for elements, bounded; none is timed.
 */
import { randomBytes } from 'node:crypto';
import { credentials } from '@grpc/grpc-js';
import type { Browser, Page, Response as PlaywrightResponse } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBase64url, utf8 } from '../../shared/base64url.ts';
import { CHROMIUM_PATH, chromiumInstalled, launchChromium } from '../../test/support/chromium.ts';
import { type Harness, newAdminToken, startHarness } from '../../test/support/control-plane-harness.ts';
import { FakeClock } from '../../test/support/fake-clock.ts';
import { unreachableUrl } from '../../test/support/inventory-edges.ts';
import { KEYSET_KEY } from '../../test/support/keysets.ts';
import { type NodeEdgeServer, startNodeEdgeServer } from '../../test/support/node-edge-server.ts';
import {
  type ScheduledControlPlane,
  startScheduledControlPlane,
} from '../../test/support/scheduled-control-plane.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';
import { connectSecretService, type SecretServiceConnection } from '../src/grpc/secret-service-client.ts';

/** Generous: two busy cores, a browser and a control plane. The update itself comes on an event. */
const UPDATE_BOUND_MS = 10_000;

const installed = chromiumInstalled();
if (!installed && process.env.CI) {
  throw new Error(
    `no Chromium at ${CHROMIUM_PATH}: CI runs the dashboard's browser test (apt-get install chromium)`,
  );
}
if (!installed) {
  console.warn(
    `SKIPPED the dashboard browser test: no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)`,
  );
}

const activeRow = (kid: string) => `#keys tr[data-status="active"][data-kid="${kid}"]`;

describe.skipIf(!installed)('the operator dashboard in headless Chromium', () => {
  let valkey: ValkeyServer;
  let edge: NodeEdgeServer;
  let harness: Harness;
  let client: SecretServiceConnection;
  let browser: Browser;
  let firstKid: string;
  const secrets: string[] = [];
  const consoleErrors: string[] = [];
  const keysetKey = randomBytes(32).toString('base64url');

  beforeAll(async () => {
    valkey = await startValkey();
    edge = await startNodeEdgeServer(keysetKey);
    harness = await startHarness({ valkeyUrl: valkey.url, keysetKey, edgeUrls: [edge.url] });
    client = connectSecretService(harness.grpcAddress, credentials.createInsecure());
    firstKid = await activeKid();
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    client?.close();
    await harness?.stop();
    await edge?.close();
    await valkey?.stop();
  });

  async function activeKid(): Promise<string> {
    const { keys } = await harness.getKeyset();
    return keys.find((key) => key.status === 'active')?.kid as string;
  }

  /** A fresh browser context (its own sessionStorage) on the dashboard, the sign-in form filled and sent. */
  async function signIn(token: string): Promise<Page> {
    return (await signInWatched(token)).page;
  }

  /** signIn, with the answer to the page's first request for /dashboard/events. */
  async function signInWatched(token: string): Promise<{ page: Page; events: Promise<PlaywrightResponse> }> {
    const page = await (await browser.newContext()).newPage();
    // A Content-Security-Policy violation or a script error shows here.
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(error.message));
    const answer = await page.goto(`${harness.httpUrl}/dashboard`);
    expect(answer?.status()).toBe(200);
    await page.fill('#token', token);
    const events = page.waitForResponse((response) => response.url().endsWith('/dashboard/events'));
    await page.click('#sign-in button[type=submit]');
    return { page, events };
  }

  it('serves the page with no data, unauthenticated, framing and caching refused', async () => {
    const response = await fetch(`${harness.httpUrl}/dashboard/`);
    const headers = Object.fromEntries(response.headers);
    expect(response.status).toBe(200);
    expect(headers['x-frame-options']).toBe('DENY');
    expect(headers['cache-control']).toBe('no-store');
    expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(headers['content-security-policy']).toContain("script-src 'self'");
    expect(await response.text()).not.toContain(firstKid);
  });

  it('a wrong token sees nothing: 401, a clear error, no kid in the page', async () => {
    const wrong = `wrong-${newAdminToken()}`;
    const { page, events } = await signInWatched(wrong);
    expect((await events).status()).toBe(401);
    // Logged as a refused admin call, as gRPC's are; the token is not.
    const refusals = harness.logLines.filter(
      (line) => line.includes('"rpc":"DashboardEvents"') && line.includes('"outcome":"permission_denied"'),
    );
    expect(refusals).toHaveLength(1);
    expect(harness.logLines.join('\n')).not.toContain(wrong);
    await page.waitForSelector('#error:not([hidden])');
    expect(await page.textContent('#error')).toContain('Wrong admin token');
    expect(await page.isHidden('#board')).toBe(true);
    expect(await page.isVisible('#sign-in')).toBe(true);
    expect(await page.content()).not.toContain(firstKid);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    // The refused request is the one error the browser reports.
    expect(consoleErrors.splice(0)).toEqual([expect.stringContaining('401')]);
    await page.context().close();
  });

  it('shows the keys, the edge and the timeline, and a rotation over gRPC without a reload', async () => {
    const page = await signIn(harness.adminToken);
    await page.waitForSelector(activeRow(firstKid));
    expect(await page.isVisible('#board')).toBe(true);
    expect(await page.isHidden('#sign-in')).toBe(true);
    const before = await harness.getKeyset();
    await page.waitForSelector(
      `#edges tr[data-url="${edge.url}"][data-confirmed-version="${before.version}"]`,
    );
    expect(page.url()).not.toContain(harness.adminToken);

    const secret = randomBytes(48).toString('base64');
    secrets.push(secret);
    const rotated = await harness.rotate(secret);
    expect(rotated.kid).not.toBe(firstKid);
    const answered = performance.now();
    await page.waitForSelector(activeRow(rotated.kid), { timeout: UPDATE_BOUND_MS });
    console.log(
      `the dashboard showed the new active kid ${Math.round(performance.now() - answered)} ms after RotateSecret answered`,
    );
    await page.waitForSelector(`#keys tr[data-status="previous"][data-kid="${firstKid}"]`);
    await page.waitForSelector(
      `#edges tr[data-url="${edge.url}"][data-confirmed-version="${rotated.version}"]`,
      { timeout: UPDATE_BOUND_MS },
    );
    const entry = await page.waitForSelector('#timeline li[data-action="rotate"]');
    expect(await entry.textContent()).toContain(rotated.kid);
    expect(await page.textContent('#schedule')).toContain('ROTATION_INTERVAL=off');

    expect(consoleErrors).toEqual([]);
    const html = await page.content();
    expect(html).not.toContain(harness.adminToken);
    expect(html).not.toContain(secret);
    expect(html).not.toContain(encodeBase64url(utf8(secret)));
    await page.context().close();
  });

  it("another replica's rotation shows too (jwt_secrets:changed)", async () => {
    const page = await signIn(harness.adminToken);
    await page.waitForSelector(activeRow(await activeKid()));
    const other = await startHarness({ valkeyUrl: valkey.url, keysetKey, adminToken: harness.adminToken });
    try {
      const secret = randomBytes(48).toString('base64');
      secrets.push(secret);
      const rotated = await other.rotate(secret);
      await page.waitForSelector(activeRow(rotated.kid), { timeout: UPDATE_BOUND_MS });
    } finally {
      await other.stop();
    }
    await page.context().close();
  });

  it('a staged key pair shows as standby; no snapshot carries k or d', async () => {
    const page = await signIn(harness.adminToken);
    const staged = await client.stageKey({ admin_token: harness.adminToken, alg: 'EdDSA' });
    await page.waitForSelector(`#keys tr[data-status="standby"][data-kid="${staged.kid}"]`, {
      timeout: UPDATE_BOUND_MS,
    });
    expect(await page.textContent(`#keys tr[data-kid="${staged.kid}"]`)).toContain('EdDSA');

    const response = await fetch(`${harness.httpUrl}/dashboard/state`, {
      headers: { authorization: `Bearer ${harness.adminToken}` },
    });
    expect(response.status).toBe(200);
    const text = await response.text();
    const state = JSON.parse(text) as { keys: Array<Record<string, unknown>> };
    expect(state.keys.map((key) => key.kid)).toContain(staged.kid);
    for (const key of state.keys) {
      expect(Object.keys(key).sort()).toEqual([
        'alg',
        'created_at',
        'expires_at',
        'kid',
        'status',
        'version',
      ]);
    }
    for (const secret of secrets) expect(text).not.toContain(encodeBase64url(utf8(secret)));
    await page.context().close();
  });

  it('an open dashboard whose token a reload replaced is told so at its next snapshot, and shows nothing', async () => {
    const page = await signIn(harness.adminToken);
    const kid = await activeKid();
    await page.waitForSelector(activeRow(kid));
    harness.controlPlane.adminAuth.setTokens([newAdminToken()]);
    // A change wakes the open stream at once (otherwise its periodic snapshot would).
    await harness.controlPlane.manager.rotate({ actor: 'test' });
    await page.waitForSelector('#error:not([hidden])', { timeout: UPDATE_BOUND_MS });
    expect(await page.textContent('#error')).toContain('no longer accepted');
    expect(await page.isHidden('#board')).toBe(true);
    expect(await page.content()).not.toContain(kid);
    await page.context().close();
  });
});

describe.skipIf(!installed)('the dashboard on a rotation schedule (fake clock, env storage)', () => {
  const T0 = new Date('2031-03-01T00:00:00.000Z');
  const DUE = new Date(T0.getTime() + 90 * 86_400_000);
  const STAGE_AT = new Date(DUE.getTime() - 3_600_000);
  let edge: NodeEdgeServer;
  let deadUrl: string;
  let cp: ScheduledControlPlane;
  let clock: FakeClock;
  let browser: Browser;

  beforeAll(async () => {
    clock = new FakeClock(T0);
    [edge, deadUrl] = await Promise.all([startNodeEdgeServer(KEYSET_KEY), unreachableUrl()]);
    cp = await startScheduledControlPlane({ clock, edgeUrls: [edge.url, deadUrl] });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await cp?.stop();
    await edge?.close();
  });

  it('shows the staged key, the edge that has not confirmed it, and the promotion blocked by it', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${cp.httpUrl}/dashboard/`);
    await page.fill('#token', cp.adminToken);
    await page.click('#sign-in button[type=submit]');
    await page.waitForSelector('#keys tr[data-status="active"]');
    expect(await page.textContent('#schedule')).toContain(`Next key staged`);

    clock.set(STAGE_AT);
    const { kid } = (await cp.scheduler.tick()) as { kid: string };
    await page.waitForSelector(`#keys tr[data-status="standby"][data-kid="${kid}"]`, {
      timeout: UPDATE_BOUND_MS,
    });
    expect(await page.textContent('#schedule')).toContain(`Standby ${kid} becomes active`);
    // The standby row can show from a snapshot taken while the push round ran: the live edge's confirmation
    // arrives with the next one.
    await expect
      .poll(() => page.textContent('#blockers'), { timeout: UPDATE_BOUND_MS, interval: 20 })
      .toBe(`not yet confirmed by ${deadUrl}`);

    clock.set(DUE);
    expect(await cp.scheduler.tick()).toMatchObject({ step: 'blocked', kid });
    const blocked = await page.waitForSelector('#schedule.blocked', { timeout: UPDATE_BOUND_MS });
    expect(await blocked.textContent()).toContain(`BLOCKED since ${DUE.toISOString()}: standby ${kid}`);
    expect(await page.textContent('#blockers')).toBe(`not yet confirmed by ${deadUrl}`);
    expect(await page.textContent(`#edges tr[data-url="${deadUrl}"]`)).toContain('unreachable');
    await page.context().close();
  });
});
