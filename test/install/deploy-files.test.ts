/**
 * deploy/: what can be checked without Docker, systemd or a cluster. The Dockerfile installs with the command
 * packed-install.test.ts runs (both read it from the Dockerfile) and starts the entry that test starts; the
 * systemd units (control plane, Node edge) pass `systemd-analyze verify`, run the entries that test starts, and
 * their environment files name secrets only as *_FILE variables the process reads (the edge's file is a
 * configuration the edge accepts); the Kubernetes manifests parse as YAML (PyYAML, through Debian's python3) and wire probes, ports
 * and the mounted secrets together. Building the image, booting the unit and applying the manifests are not
 * tested here.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SECRET_FILE_VARIABLES } from '../../control-plane/src/config.ts';
import { parseEdgeConfig } from '../../edge/src/config.ts';
import type { EdgeEnv } from '../../edge/src/env.ts';
import { listenAddress } from '../../edge/src/runtime/listen-address.ts';
import { EDGE_SECRET_FILE_VARIABLES } from '../../edge/src/runtime/secret-files.ts';
import { KEYSET_VERIFY_KEY } from '../support/keysets.ts';
import {
  CONTROL_PLANE_ENTRY,
  DOCKERFILE,
  dockerInstallCommand,
  NODE_EDGE_ENTRY,
  ROOT,
} from '../support/packed-install.ts';

const UNIT = join(ROOT, 'deploy/systemd/keyward-control-plane.service');
const ENV_EXAMPLE = join(ROOT, 'deploy/systemd/control-plane.env.example');
const EDGE_UNIT = join(ROOT, 'deploy/systemd/keyward-edge.service');
const EDGE_ENV_EXAMPLE = join(ROOT, 'deploy/systemd/edge.env.example');
const MANIFESTS = join(ROOT, 'deploy/kubernetes/control-plane.yaml');
const PYTHON = '/usr/bin/python3';

/** Dockerfile instructions, continuation lines joined, comments dropped: [instruction, rest]. */
function instructions(text: string): [string, string][] {
  return text
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'))
    .map((line) => {
      const [word, ...rest] = line.trim().split(/\s+/);
      return [(word as string).toUpperCase(), rest.join(' ')];
    });
}

describe('deploy/Dockerfile', () => {
  const steps = instructions(readFileSync(DOCKERFILE, 'utf8'));
  const all = (name: string) => steps.filter(([instruction]) => instruction === name).map(([, rest]) => rest);

  it('installs the copied tarball with the tested --omit=dev command and runs the tested entry as non-root', async () => {
    const command = await dockerInstallCommand();
    expect(command.split(/\s+/).slice(0, 3)).toEqual(['npm', 'install', '--omit=dev']);
    expect(all('RUN').filter((run) => run.startsWith(command))).toHaveLength(1);
    expect(all('COPY')).toEqual(['keyward.tgz ./']);
    expect(command.split(/\s+/).at(-1)).toBe('./keyward.tgz');
    expect(all('FROM')).toEqual(['node:24-slim']);
    expect(all('USER')).toEqual(['node']);
    expect(all('EXPOSE')).toEqual(['50051 8080']);
    expect(all('HEALTHCHECK').join()).toContain('/livez');
    expect(all('CMD').at(-1)).toBe(`["node", "${CONTROL_PLANE_ENTRY}"]`);
    expect(readFileSync(DOCKERFILE, 'utf8')).toContain(NODE_EDGE_ENTRY);
  });
});

describe('deploy/systemd', () => {
  const unit = readFileSync(UNIT, 'utf8');

  it('runs the installed control plane with its settings from an EnvironmentFile', () => {
    expect(unit).toMatch(new RegExp(`^ExecStart=/usr/bin/node /opt/keyward/${CONTROL_PLANE_ENTRY}$`, 'm'));
    expect(unit).toMatch(/^EnvironmentFile=\/etc\/keyward\/control-plane\.env$/m);
    expect(unit).toMatch(/^User=keyward$/m);
    expect(unit).toMatch(/^NoNewPrivileges=yes$/m);
    expect(unit).toMatch(/^ProtectSystem=strict$/m);
  });

  it('names secrets only as *_FILE variables the control plane reads, and holds no secret value', () => {
    const settings = readFileSync(ENV_EXAMPLE, 'utf8')
      .split('\n')
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => line.slice(0, line.indexOf('=')));
    const files = settings
      .filter((name) => name.endsWith('_FILE'))
      .map((name) => name.slice(0, -'_FILE'.length));
    expect(files.sort()).toEqual(['ADMIN_TOKEN', 'KEYSET_KEY', 'KEYSET_SIGNING_KEY', 'VALKEY_URL']);
    expect(files.every((name) => (SECRET_FILE_VARIABLES as readonly string[]).includes(name))).toBe(true);
    expect(settings.filter((name) => (SECRET_FILE_VARIABLES as readonly string[]).includes(name))).toEqual(
      [],
    );
  });

  it('runs the installed Node edge as the same user, hardened alike, with its settings from edge.env', () => {
    const edgeUnit = readFileSync(EDGE_UNIT, 'utf8');
    expect(edgeUnit).toMatch(new RegExp(`^ExecStart=/usr/bin/node /opt/keyward/${NODE_EDGE_ENTRY}$`, 'm'));
    expect(edgeUnit).toMatch(/^EnvironmentFile=\/etc\/keyward\/edge\.env$/m);
    expect(edgeUnit).toMatch(/^User=keyward$/m);
    expect(edgeUnit).toMatch(/^KillSignal=SIGTERM$/m);
    // Every hardening line of the control plane's unit, but for the address families (no Unix socket needed).
    const hardening = (text: string) =>
      text
        .slice(text.indexOf('NoNewPrivileges='), text.indexOf('[Install]'))
        .split('\n')
        .filter((line) => /^\w+=/.test(line) && !line.startsWith('RestrictAddressFamilies='));
    expect(hardening(edgeUnit)).toEqual(hardening(unit));
    expect(hardening(edgeUnit).length).toBeGreaterThan(20);
    expect(edgeUnit).toMatch(/^RestrictAddressFamilies=AF_INET AF_INET6$/m);
  });

  it("edge.env.example: a configuration the edge accepts, secrets only as the edge's *_FILE variables", () => {
    const settings = Object.fromEntries(
      readFileSync(EDGE_ENV_EXAMPLE, 'utf8')
        .split('\n')
        .filter((line) => /^[A-Z_]+=/.test(line))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    ) as Record<string, string>;
    const secretNames = EDGE_SECRET_FILE_VARIABLES as readonly string[];
    expect(Object.keys(settings).filter((name) => secretNames.includes(name))).toEqual([]);
    const files = Object.keys(settings).filter((name) => name.endsWith('_FILE'));
    expect(files.every((name) => secretNames.includes(name.slice(0, -'_FILE'.length)))).toBe(true);
    expect(files.every((name) => settings[name]?.startsWith('/etc/keyward/secrets/'))).toBe(true);
    // The file's settings, with the placeholder verify key and the secret files filled in as a deployment would.
    const edge = parseEdgeConfig({
      ...settings,
      KEYSET_VERIFY_KEY,
      KEYSET_KEY_FILE: undefined,
    } as EdgeEnv);
    expect(edge.keysetUrl).toBe(settings.KEYSET_URL);
    expect(Number.isFinite(edge.maxStalenessMs)).toBe(true);
    expect(listenAddress(settings)).toEqual({ port: 8787, host: '0.0.0.0' });
  });

  const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  it.skipIf(analyze.status !== 0).each([UNIT, EDGE_UNIT])(
    'passes systemd-analyze verify (no unknown key, no unparsable value): %s',
    (path) => {
      const verify = spawnSync('systemd-analyze', ['verify', path], { encoding: 'utf8', timeout: 30_000 });
      const complaints = `${verify.stdout}${verify.stderr}`
        .split('\n')
        .filter((line) => line.startsWith(`${path}:`));
      expect(complaints).toEqual([]);
    },
  );
});

interface Container {
  ports: { name: string; containerPort: number }[];
  env: { name: string; value: string }[];
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  securityContext: { allowPrivilegeEscalation: boolean; readOnlyRootFilesystem: boolean };
}

interface Manifest {
  kind: string;
  spec: {
    replicas?: number;
    selector: { matchLabels?: Record<string, string> } & Record<string, string>;
    template?: {
      metadata: { labels: Record<string, string> };
      spec: {
        securityContext: { runAsNonRoot: boolean };
        containers: Container[];
        volumes: { name: string; secret?: { secretName: string } }[];
      };
    };
    ports?: { port: number; targetPort: string }[];
  };
}

const PARSE_YAML = 'import json, sys, yaml; json.dump(list(yaml.safe_load_all(sys.stdin)), sys.stdout)';
const hasPyYaml = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import yaml']).status === 0;

describe('deploy/kubernetes', () => {
  it.skipIf(!hasPyYaml)(
    'a Deployment of 2 replicas with /livez and /readyz probes, secrets as files, and its Service',
    () => {
      const parsed = spawnSync(PYTHON, ['-c', PARSE_YAML], {
        input: readFileSync(MANIFESTS, 'utf8'),
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(parsed.status, parsed.stderr).toBe(0);
      const manifests = JSON.parse(parsed.stdout) as Manifest[];
      expect(manifests.map((manifest) => manifest.kind)).toEqual(['Deployment', 'Service']);
      const [deployment, service] = manifests as [Manifest, Manifest];
      const template = deployment.spec.template;
      if (template === undefined) throw new Error('the Deployment has no pod template');
      expect(deployment.spec.replicas).toBe(2);
      expect(template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels ?? {});
      expect(template.metadata.labels).toMatchObject(service.spec.selector);
      expect(template.spec.securityContext.runAsNonRoot).toBe(true);

      const [container] = template.spec.containers as [Container];
      const portNames = container.ports.map((port) => port.name);
      expect(container.ports.map((port) => port.containerPort)).toEqual([50051, 8080]);
      expect(container.livenessProbe.httpGet).toEqual({ path: '/livez', port: 'http' });
      expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
      expect(container.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
      });
      expect(service.spec.ports?.map((port) => [port.port, portNames.includes(port.targetPort)])).toEqual([
        [50051, true],
        [8080, true],
      ]);

      // Every secret comes as NAME_FILE, a path inside the read-only mount of the Secret; none as a value.
      const mount = container.volumeMounts.find((volume) => volume.mountPath === '/var/run/secrets/keyward');
      expect(mount?.readOnly).toBe(true);
      expect(template.spec.volumes.find((volume) => volume.name === mount?.name)?.secret?.secretName).toBe(
        'keyward-control-plane',
      );
      const fileVariables = container.env.filter((variable) => variable.name.endsWith('_FILE'));
      expect(fileVariables.map((variable) => variable.name).sort()).toEqual([
        'ADMIN_TOKEN_FILE',
        'KEYSET_KEY_FILE',
        'KEYSET_SIGNING_KEY_FILE',
        'VALKEY_URL_FILE',
      ]);
      expect(fileVariables.every((variable) => variable.value.startsWith(`${mount?.mountPath}/`))).toBe(true);
      const secretNames = SECRET_FILE_VARIABLES as readonly string[];
      expect(container.env.filter((variable) => secretNames.includes(variable.name))).toEqual([]);
    },
  );
});
