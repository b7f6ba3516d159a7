/** Everything one bench run measured, case by case: what the targets judge and the report prints. */
import type { AdminTokenTiming } from './cases/admin-token-timing.ts';
import type { HttpVerify } from './cases/http-verify.ts';
import type { InProcessVerify } from './cases/in-process-verify.ts';
import type { IsolateConvergenceBench } from './cases/isolate-convergence.ts';
import type { KeysetSize } from './cases/keyset-size.ts';
import type { MemoryBreakdown } from './cases/memory-breakdown.ts';
import type { PushFanoutBench } from './cases/push-fanout.ts';
import type { RevocationBench } from './cases/revocation-propagation.ts';
import type { RevocationVerify } from './cases/revocation-verify.ts';
import type { RotationBench } from './cases/rotation.ts';
import type { RuntimeVerify } from './cases/runtime-verify.ts';
import type { HaBench } from './cases/valkey-ha.ts';
import type { BundleSize } from './cases/worker-bundle-size.ts';
import type { WorkerdVerify } from './cases/workerd-verify.ts';
import type { BenchFixture } from './support/fixture.ts';

export interface BenchFigures {
  fixture: BenchFixture;
  inProcess: InProcessVerify;
  workerd: WorkerdVerify;
  http: HttpVerify;
  rotation: RotationBench;
  fanout: PushFanoutBench;
  revocationPropagation: RevocationBench;
  bundle: BundleSize;
  adminToken: AdminTokenTiming;
  keysetSize: KeysetSize;
  runtimeVerify: RuntimeVerify;
  isolates: IsolateConvergenceBench;
  ha: HaBench;
  revocations: RevocationVerify;
  memoryBreakdown: MemoryBreakdown;
}

/** The cases `node bench/run.ts --only=<names>` can pick (every one when the flag is absent). */
export type CaseName = Exclude<keyof BenchFigures, 'fixture'>;
export const CASE_NAMES: readonly CaseName[] = [
  'inProcess',
  'workerd',
  'http',
  'rotation',
  'fanout',
  'revocationPropagation',
  'bundle',
  'adminToken',
  'keysetSize',
  'runtimeVerify',
  'isolates',
  'ha',
  'revocations',
  'memoryBreakdown',
];
