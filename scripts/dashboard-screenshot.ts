/**
 * `node scripts/dashboard-screenshot.ts [out.png]`: regenerates docs/dashboard.png, the README's picture of the
 * operator dashboard. Everything runs on loopback in this process: a control plane on env storage with a
 * schedule (ROTATION_INTERVAL=30d, ROTATION_LEAD=2d), three edges (one up to date, one whose clock runs 4 s
 * ahead, one where nothing listens), a few admin actions over gRPC (an HS256 rotation, an EdDSA rotation, an
 * ES256 key staged), then headless Chromium (test/support/chromium.ts) signs in and takes the picture.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { credentials } from '@grpc/grpc-js';
import { loadConfig } from '../control-plane/src/config.ts';
import { startControlPlane } from '../control-plane/src/control-plane.ts';
import { connectSecretService } from '../control-plane/src/grpc/secret-service-client.ts';
import { createLogger } from '../control-plane/src/logger.ts';
import { generateSecret } from '../control-plane/src/rotation/generate-secret.ts';
import { chromiumInstalled, launchChromium } from '../test/support/chromium.ts';
import { startSkewedEdgeServer, unreachableUrl } from '../test/support/inventory-edges.ts';
import { KEYSET_SIGNING_KEY } from '../test/support/keysets.ts';
import { startNodeEdgeServer } from '../test/support/node-edge-server.ts';

const out = process.argv[2] ?? fileURLToPath(new URL('../docs/dashboard.png', import.meta.url));
if (!chromiumInstalled()) throw new Error('no Chromium: apt-get install chromium, or set CHROMIUM_PATH');

const adminToken = randomBytes(48).toString('base64url');
const keysetKey = randomBytes(32).toString('base64url');
const [edge, skewed, down] = await Promise.all([
  startNodeEdgeServer(keysetKey),
  startSkewedEdgeServer(keysetKey, 4_000),
  unreachableUrl(),
]);
const controlPlane = await startControlPlane(
  loadConfig({
    ADMIN_TOKEN: adminToken,
    SECRET_STORAGE: 'env',
    JWT_SECRET: generateSecret(),
    KEYSET_KEY: keysetKey,
    KEYSET_SIGNING_KEY,
    EDGE_URLS: [edge.url, skewed.url, down].join(','),
    ROTATION_INTERVAL: '30d',
    ROTATION_LEAD: '2d',
    GRPC_PORT: '0',
    HTTP_PORT: '0',
    HOST: '127.0.0.1',
  }),
  createLogger('silent'),
);
const client = connectSecretService(`127.0.0.1:${controlPlane.grpcPort}`, credentials.createInsecure());
const browser = await launchChromium();
try {
  await client.rotateSecret({ admin_token: adminToken, generate: true });
  await client.rotateSecret({ admin_token: adminToken, alg: 'EdDSA' });
  const staged = await client.stageKey({ admin_token: adminToken, alg: 'ES256' });

  const page = await browser.newPage({ viewport: { width: 1180, height: 600 } });
  await page.goto(`http://127.0.0.1:${controlPlane.httpPort}/dashboard/`);
  await page.fill('#token', adminToken);
  await page.click('#sign-in button[type=submit]');
  await page.waitForSelector(`#keys tr[data-status="standby"][data-kid="${staged.kid}"]`);
  await page.waitForSelector(
    `#edges tr[data-url="${skewed.url}"][data-confirmed-version="${staged.version}"]`,
  );
  await page.screenshot({ path: out, fullPage: true });
  process.stdout.write(`wrote ${out}\n`);
} finally {
  await browser.close();
  client.close();
  await controlPlane.stop();
  await Promise.all([edge.close(), skewed.close()]);
}
