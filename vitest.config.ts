import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          include: [
            'shared/**/*.test.ts',
            'control-plane/test/**/*.test.ts',
            'edge/test/node/**/*.test.ts',
            'test/**/*.test.ts',
          ],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                KEYSET_KEY: 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8',
                // The public key of test/support/keysets.ts's KEYSET_SIGNING_KEY.
                KEYSET_VERIFY_KEY: 'JUO5L_EJVRFHatyDadtt3JM2ZaEZeN2hQE7hBmypVZ0',
                JWT_ISSUER: '',
                JWT_AUDIENCE: '',
              },
              // The optional KV mirror (edge/README.md); a local namespace, emptied per test file.
              kvNamespaces: ['KEYSETS'],
            },
          }),
        ],
        test: { name: 'workerd', include: ['edge/test/workerd/**/*.test.ts'] },
      },
    ],
  },
});
