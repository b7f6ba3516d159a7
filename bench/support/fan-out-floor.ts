/**
 * What a rotation to N edges costs this machine, and the floor under it. First RotateSecret with the N edges,
 * paced as the edge counts are but with no probe in between, and the CPU each process spent per rotation (user +
 * system, every thread, from /proc): the control plane, the edges, and this process (the caller's gRPC client).
 * Then the control plane's own envelope, through the control plane's own push transport, to N bare node:http
 * servers (bench/servers/bare-keyset-put.ts: they read the body and answer without opening it), paced alike.
 * Edges that share the machine's cores with the control plane cannot make a rotation faster than the no-edge
 * RotateSecret plus that fan-out; what the edges add beyond it is their open-and-take, visible as CPU per push.
 */
import { join } from 'node:path';
import { createPushTransport } from '../../control-plane/src/push/push-transport.ts';
import type { ControlPlaneProcess } from '../../test/support/control-plane-process.ts';
import { ROOT } from '../../test/support/edge-processes.ts';
import { type ManagedProcess, startProcess } from '../../test/support/managed-process.ts';
import { cpuMs } from '../../test/support/process-stats.ts';
import { newSecret } from '../../test/support/sign-token.ts';
import { quantile } from '../../test/support/stats.ts';
import { sleep } from '../../test/support/wait-for.ts';
import { waitForOutput } from '../../test/support/wait-for-output.ts';

/** As the rotation case paces its calls. */
const PAUSE_MS = 20;

export interface FanOutFloor {
  edges: number;
  rounds: number;
  envelopeBytes: number;
  /** RotateSecret with the N edges, no probes in between. */
  rotateP50Ms: number;
  rotateP99Ms: number;
  /** CPU per rotation: the control plane, all N edges together, one edge on average, and the caller. */
  rotationCpuMs: { controlPlane: number; edges: number; perEdge: number; caller: number };
  /** The same envelope PUT to N bare servers at once, from the control plane's push transport. */
  bareFanOutP50Ms: number;
  bareFanOutP99Ms: number;
  /** CPU per round: the sending process, all N servers together, one server on average. */
  bareCpuMs: { sender: number; servers: number; perServer: number };
}

const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

function callerCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

export async function measureFanOutFloor(options: {
  controlPlane: ControlPlaneProcess;
  edgePids: number[];
  rounds: number;
}): Promise<FanOutFloor> {
  const { controlPlane, edgePids, rounds } = options;
  const n = edgePids.length;
  const rotate: number[] = [];
  const cpPid = controlPlane.process.child.pid;
  for (let i = 0; i < 3; i++) await controlPlane.rotate({ new_secret: newSecret() });
  const before = { cp: cpuMs(cpPid), edges: edgePids.map(cpuMs), caller: callerCpuMs() };
  for (let i = 0; i < rounds; i++) {
    const secret = newSecret();
    const start = performance.now();
    await controlPlane.rotate({ new_secret: secret });
    rotate.push(performance.now() - start);
    await sleep(PAUSE_MS);
  }
  const edgesCpu = sum(edgePids.map((pid, i) => cpuMs(pid) - (before.edges[i] as number))) / rounds;
  const rotationCpuMs = {
    controlPlane: (cpuMs(cpPid) - before.cp) / rounds,
    edges: edgesCpu,
    perEdge: edgesCpu / n,
    caller: (callerCpuMs() - before.caller) / rounds,
  };

  const envelope = await (await fetch(controlPlane.keysetUrl)).text();
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
      urls.push(new URL(`http://127.0.0.1:${port}/keyset`));
    }
    const round = () =>
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
    for (let i = 0; i < 3; i++) await round();
    const serverPids = servers.map((server) => server.child.pid as number);
    const bareBefore = { servers: serverPids.map(cpuMs), sender: callerCpuMs() };
    const fanOut: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const start = performance.now();
      await round();
      fanOut.push(performance.now() - start);
      await sleep(PAUSE_MS);
    }
    const serversCpu =
      sum(serverPids.map((pid, i) => cpuMs(pid) - (bareBefore.servers[i] as number))) / rounds;
    return {
      edges: n,
      rounds,
      envelopeBytes: Buffer.byteLength(envelope),
      rotateP50Ms: quantile(rotate, 0.5),
      rotateP99Ms: quantile(rotate, 0.99),
      rotationCpuMs,
      bareFanOutP50Ms: quantile(fanOut, 0.5),
      bareFanOutP99Ms: quantile(fanOut, 0.99),
      bareCpuMs: {
        sender: (callerCpuMs() - bareBefore.sender) / rounds,
        servers: serversCpu,
        perServer: serversCpu / n,
      },
    };
  } finally {
    transport.close();
    await Promise.all(servers.map((server) => server.stop()));
  }
}
