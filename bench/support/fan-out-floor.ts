/**
 * What a call that pushes to N edges (RotateSecret, RevokeTokens) costs this machine, and the floor under it,
 * interleaved call by call in a rotating order, each call followed by the same pause: the call with the N edges
 * (no probe in between), the same call on a control plane with no edges and a valkey-server of its own, and the
 * document that call pushes sent through the control plane's own push transport to N bare node:http servers
 * (bench/servers/bare-keyset-put.ts: they read the body and answer without opening it). Edges that share the
 * machine's cores with the control plane cannot make the call faster than its no-edge latency plus that fan-out.
 * The CPU each process spends per call (every thread, /proc schedstat, from the call until the pause after it
 * ends) shows what the edges' open and take add over a bare server's answer.
 */
import { join } from 'node:path';
import { createPushTransport } from '../../control-plane/src/push/push-transport.ts';
import type { ControlPlaneProcess } from '../../test/support/control-plane-process.ts';
import { ROOT } from '../../test/support/edge-processes.ts';
import { type ManagedProcess, startProcess } from '../../test/support/managed-process.ts';
import { onCpuMs } from '../../test/support/process-stats.ts';
import { quantile } from '../../test/support/stats.ts';
import { sleep } from '../../test/support/wait-for.ts';
import { waitForOutput } from '../../test/support/wait-for-output.ts';

/** After every call, as the rotation case paces its calls. */
export const FAN_OUT_PAUSE_MS = 20;

/** A call that pushes to every edge, and what it pushes. */
export interface FanOutCall {
  /** The gRPC method's name, e.g. RotateSecret. */
  name: string;
  /** The call on the control plane with the edges, and on the one without. */
  withEdges: () => Promise<unknown>;
  noEdges: () => Promise<unknown>;
  /** The edge path the document is PUT to, and the document (as the call pushes it). */
  path: '/keyset' | '/revocations';
  document: string;
}

export interface FanOutFloor {
  /** The call's gRPC method. */
  call: string;
  edges: number;
  rounds: number;
  /** The bytes of the document pushed. */
  envelopeBytes: number;
  /** The call with the N edges, no probes in between. */
  callP50Ms: number;
  callP99Ms: number;
  /** The call without edges, interleaved with the others. */
  noEdgesP50Ms: number;
  /** The same document PUT to N bare servers at once, from the control plane's push transport. */
  bareFanOutP50Ms: number;
  bareFanOutP99Ms: number;
  /** Mean CPU per call with the edges: the control plane, all N edges together, one edge, the caller. */
  callCpuMs: { controlPlane: number; edges: number; perEdge: number; caller: number };
  /** Mean CPU per bare round: the sending process, all N servers together, one server. */
  bareCpuMs: { sender: number; servers: number; perServer: number };
}

const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
const mean = (values: number[]) => sum(values) / values.length;

/** One call's duration, and the CPU each watched process spent from the call until the pause after it ended. */
interface TimedSample {
  ms: number;
  cpu: number[];
}

/** Runs `call`, then the pause, watching `pids`. */
async function timedCall(pids: number[], call: () => Promise<unknown>): Promise<TimedSample> {
  const before = pids.map(onCpuMs);
  const start = performance.now();
  await call();
  const ms = performance.now() - start;
  await sleep(FAN_OUT_PAUSE_MS);
  return { ms, cpu: pids.map((pid, i) => onCpuMs(pid) - (before[i] as number)) };
}

/** See the file's comment; `call.noEdges` calls a control plane with no EDGE_URLS on a valkey-server of its own. */
export async function measureFanOutFloor(options: {
  controlPlane: ControlPlaneProcess;
  call: FanOutCall;
  edgePids: number[];
  rounds: number;
}): Promise<FanOutFloor> {
  const { controlPlane, call, edgePids, rounds } = options;
  const n = edgePids.length;
  const envelope = call.document;
  const servers: ManagedProcess[] = [];
  const transport = createPushTransport();
  try {
    for (let i = 0; i < n; i++) {
      servers.push(
        startProcess('bare PUT /keyset', process.execPath, [join(ROOT, 'bench/servers/bare-keyset-put.ts')], {
          cwd: ROOT,
          env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0' },
        }),
      );
    }
    const urls: URL[] = [];
    for (const server of servers) {
      const port = (await waitForOutput(server, /listening on port (\d+)/))[1];
      urls.push(new URL(`http://127.0.0.1:${port}${call.path}`));
    }
    const bareRound = () =>
      Promise.all(
        urls.map(async (url) => {
          const answer = await transport.send({
            method: 'PUT',
            url,
            headers: { 'content-type': 'application/jose' },
            body: envelope,
            timeoutMs: 5_000,
          });
          if (answer.status !== 200) throw new Error(`bare PUT: HTTP ${answer.status}`);
        }),
      );
    const self = process.pid;
    const cpPid = controlPlane.process.child.pid as number;
    const serverPids = servers.map((server) => server.child.pid as number);
    const kinds = [
      { pids: [cpPid, ...edgePids, self], call: call.withEdges },
      { pids: [], call: call.noEdges },
      { pids: [self, ...serverPids], call: bareRound },
    ];
    const samples: TimedSample[][] = kinds.map(() => []);
    // Three unrecorded rounds: connections opened, code paths warm on every side.
    for (let round = -3; round < rounds; round++) {
      for (let k = 0; k < kinds.length; k++) {
        // The order rotates, so that no kind always follows another.
        const index = (k + Math.max(round, 0)) % kinds.length;
        const kind = kinds[index] as (typeof kinds)[number];
        const timed = await timedCall(kind.pids, kind.call);
        if (round >= 0) samples[index]?.push(timed);
      }
    }
    const [rotation = [], noEdge = [], bare = []] = samples;
    const cpuOf = (of: TimedSample[], from: number, to: number) =>
      mean(of.map((sample) => sum(sample.cpu.slice(from, to))));
    const edgesCpu = cpuOf(rotation, 1, 1 + n);
    const serversCpu = cpuOf(bare, 1, 1 + n);
    const rotationMs = rotation.map((sample) => sample.ms);
    const bareMs = bare.map((sample) => sample.ms);
    return {
      call: call.name,
      edges: n,
      rounds,
      envelopeBytes: Buffer.byteLength(envelope),
      callP50Ms: quantile(rotationMs, 0.5),
      callP99Ms: quantile(rotationMs, 0.99),
      noEdgesP50Ms: quantile(
        noEdge.map((sample) => sample.ms),
        0.5,
      ),
      bareFanOutP50Ms: quantile(bareMs, 0.5),
      bareFanOutP99Ms: quantile(bareMs, 0.99),
      callCpuMs: {
        controlPlane: cpuOf(rotation, 0, 1),
        edges: edgesCpu,
        perEdge: edgesCpu / n,
        caller: cpuOf(rotation, 1 + n, 2 + n),
      },
      bareCpuMs: { sender: cpuOf(bare, 0, 1), servers: serversCpu, perServer: serversCpu / n },
    };
  } finally {
    transport.close();
    await Promise.all(servers.map((server) => server.stop()));
  }
}

/** The progress line of one measurement. */
export function fanOutFloorLine(f: FanOutFloor): string {
  return `  ${f.edges} edge${f.edges === 1 ? '' : 's'}, interleaved: ${f.call} median ${f.callP50Ms.toFixed(2)} ms; without edges ${f.noEdgesP50Ms.toFixed(2)} ms; the same fan-out to bare servers ${f.bareFanOutP50Ms.toFixed(2)} ms; CPU per push ${f.callCpuMs.perEdge.toFixed(2)} ms (bare ${f.bareCpuMs.perServer.toFixed(2)} ms)`;
}
