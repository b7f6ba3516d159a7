import { randomBytes } from 'node:crypto';
import { benchRotation } from './rotation.ts';

const t0 = Date.now();
const r = await benchRotation({
  keysetKey: randomBytes(32).toString('base64url'),
  edgeCounts: [1, 5, 20],
  latencyCalls: 100,
  rotationsPerCount: 15,
  log: console.log,
});
console.log(JSON.stringify(r, null, 1));
console.log(Date.now() - t0);
