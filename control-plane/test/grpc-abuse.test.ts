/**
 * Bad input over gRPC (issue 6), against the real control plane on loopback with a real valkey-server:
 * oversized messages, unknown fields, bytes that are not UTF-8, wrong wire types and random bytes (sent
 * hand-encoded through a raw client), and thousands of concurrent calls. Every bad input answers a clear
 * status and changes nothing; the token and the secrets never reach a log line, a status or a metric label.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  Client,
  credentials,
  type GrpcObject,
  loadPackageDefinition,
  Metadata,
  type ServiceClientConstructor,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { loadSync, type ServiceDefinition } from '@grpc/proto-loader';
import fc from 'fast-check';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { Valkey } from 'iovalkey';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBase64url, utf8 } from '../../shared/base64url.ts';
import { computeKid } from '../../shared/kid.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';
import { loadConfig } from '../src/config.ts';
import { type ControlPlane, startControlPlane } from '../src/control-plane.ts';
import { MAX_REQUEST_BYTES } from '../src/grpc/grpc-server.ts';
import {
  type GetKeysetResponse,
  packageDefinition,
  type RotateSecretResponse,
  SecretServiceClient,
} from '../src/grpc/proto.ts';
import { createLogger } from '../src/logger.ts';
import { VALKEY_KEYS } from '../src/storage/valkey-storage.ts';

const ADMIN_TOKEN = randomBytes(48).toString('base64url');
const KEYSET_KEY = randomBytes(32).toString('base64url');
const DEADLINE_MS = 20_000;
/** For the concurrency test: ~4 s on an idle two-core machine; generous for a busy one. */
const LOAD_DEADLINE_MS = 45_000;
const CONCURRENT_ROTATIONS = 120;
const SERVICE = packageDefinition['cpc.orchestrator.SecretService'] as ServiceDefinition;

/** Every secret sent in this file, valid or not, and the random part of each, for the leak checks. */
const secrets: string[] = [];
const randomParts: string[] = [];
/** Every admin token candidate sent in this file (near misses leak as much as the token itself). */
const tokenCandidates: string[] = [];
/** Every status message any call in this file received. */
const statusDetails: string[] = [];
const logLines: string[] = [];

const newSecret = (prefix = 'abuse') => {
  const random = randomBytes(30).toString('base64');
  const secret = `${prefix}-${random}`;
  secrets.push(secret);
  randomParts.push(random);
  return secret;
};

/** Stands for state that holds secrets, so that a failed comparison prints a digest, not the secrets. */
const fingerprint = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex');

type Outcome<T> = { error: ServiceError; response?: undefined } | { error?: undefined; response: T };

function settle<T>(resolve: (outcome: Outcome<T>) => void) {
  return (error: ServiceError | null, response?: T) => {
    if (error) statusDetails.push(error.details);
    resolve(error ? { error } : { response: response as T });
  };
}

function unary<T>(
  client: Client,
  method: string,
  request: object,
  metadata = new Metadata(),
  deadlineMs = DEADLINE_MS,
) {
  return new Promise<Outcome<T>>((resolve) => {
    type UnaryMethod = (
      req: object,
      md: Metadata,
      options: object,
      callback: (error: ServiceError | null, response?: T) => void,
    ) => void;
    const call = (client as unknown as Record<string, UnaryMethod>)[method] as UnaryMethod;
    call.call(client, request, metadata, { deadline: Date.now() + deadlineMs }, settle(resolve));
  });
}

/** A call whose request bytes are exactly `bytes`: the server's decoder sees what we wrote. */
function rawUnary<T>(client: Client, method: string, bytes: Uint8Array, metadata = new Metadata()) {
  return new Promise<Outcome<T>>((resolve) => {
    client.makeUnaryRequest<Buffer, T>(
      `/cpc.orchestrator.SecretService/${method}`,
      (request) => request,
      (response) => SERVICE[method]?.responseDeserialize(response) as T,
      Buffer.from(bytes),
      metadata,
      { deadline: Date.now() + DEADLINE_MS },
      settle(resolve),
    );
  });
}

function expectStatus(outcome: Outcome<unknown>, code: status, details?: string | RegExp) {
  expect(outcome.error, `expected status ${status[code]}`).toBeDefined();
  expect(status[outcome.error?.code as status]).toBe(status[code]);
  if (typeof details === 'string') expect(outcome.error?.details).toContain(details);
  else if (details) expect(outcome.error?.details).toMatch(details);
}

function bearer(token: string): Metadata {
  const metadata = new Metadata();
  metadata.add('authorization', `Bearer ${token}`);
  return metadata;
}

// Hand encoding of the protobuf wire format (field numbers from proto/secret_service.proto).
const WIRE = { varint: 0, i64: 1, len: 2, startGroup: 3, endGroup: 4, i32: 5 } as const;
function varint(value: number | bigint): number[] {
  let rest = BigInt(value);
  const out: number[] = [];
  do {
    const low = Number(rest & 0x7fn);
    rest >>= 7n;
    out.push(rest > 0n ? low | 0x80 : low);
  } while (rest > 0n);
  return out;
}
const tag = (field: number, wire: number) => varint(BigInt(field) * 8n + BigInt(wire));
const bytesOf = (content: string | Uint8Array | number[]) =>
  typeof content === 'string' ? [...utf8(content)] : [...content];
const lenField = (field: number, content: string | Uint8Array | number[]) => {
  const bytes = bytesOf(content);
  return [...tag(field, WIRE.len), ...varint(bytes.length), ...bytes];
};
const varintField = (field: number, value: number | bigint) => [...tag(field, WIRE.varint), ...varint(value)];
const i64Field = (field: number) => [...tag(field, WIRE.i64), 1, 2, 3, 4, 5, 6, 7, 8];
const i32Field = (field: number) => [...tag(field, WIRE.i32), 1, 2, 3, 4];
const message = (...fields: number[][]) => Uint8Array.from(fields.flat());
/** A secret that is long enough and whose bytes are not UTF-8: `bad` spliced into ASCII. */
const notUtf8 = (bad: number[]) => {
  const text = newSecret('not-utf8');
  return [...utf8(text.slice(0, 20)), ...bad, ...utf8(text.slice(20))];
};

describe('gRPC under bad input and load (Valkey storage)', () => {
  let valkey: ValkeyServer;
  let admin: Valkey;
  let controlPlane: ControlPlane;
  let client: Client;
  let raw: Client;
  let http: string;

  const rotate = (request: object, metadata?: Metadata) =>
    unary<RotateSecretResponse>(
      client,
      'RotateSecret',
      { admin_token: ADMIN_TOKEN, new_secret: '', ...request },
      metadata,
    );
  const keysetNow = async () => {
    const outcome = await unary<GetKeysetResponse>(client, 'GetKeyset', { admin_token: ADMIN_TOKEN });
    if (outcome.error) throw outcome.error;
    return outcome.response;
  };
  /** Everything a bad input must leave alone. Asking with the right token also resets the failure brake. */
  const snapshot = async () => ({
    keyset: await keysetNow(),
    stored: fingerprint(
      await admin.mget(VALKEY_KEYS.active, VALKEY_KEYS.keyset, VALKEY_KEYS.state, VALKEY_KEYS.version),
    ),
    history: await admin.hgetall(VALKEY_KEYS.history).then((history) => ({
      count: Object.keys(history).length,
      digest: fingerprint(history),
    })),
  });

  beforeAll(async () => {
    valkey = await startValkey();
    admin = new Valkey(valkey.url, { lazyConnect: true });
    admin.on('error', () => {});
    await admin.connect();
    await admin.set(VALKEY_KEYS.active, newSecret('initial'));
    const config = loadConfig({
      ADMIN_TOKEN,
      VALKEY_URL: valkey.url,
      KEYSET_KEY,
      GRPC_PORT: '0',
      HTTP_PORT: '0',
      HOST: '127.0.0.1',
      ROTATION_INTERVAL: 'off',
    });
    const logger = createLogger('info', { write: (line: string) => void logLines.push(line) });
    controlPlane = await startControlPlane(config, logger);
    const address = `127.0.0.1:${controlPlane.grpcPort}`;
    client = new SecretServiceClient(address, credentials.createInsecure());
    raw = new Client(address, credentials.createInsecure());
    http = `http://127.0.0.1:${controlPlane.httpPort}`;
  });

  afterAll(async () => {
    client?.close();
    raw?.close();
    await controlPlane?.stop();
    admin?.disconnect();
    await valkey?.stop();
  });

  it(`refuses requests over ${MAX_REQUEST_BYTES} bytes with RESOURCE_EXHAUSTED, compressed or not, changing nothing`, async () => {
    const before = await snapshot();
    const tooBig = newSecret('oversized').padEnd(MAX_REQUEST_BYTES + 1, 'x');
    secrets.push(tooBig);
    expectStatus(await rotate({ new_secret: tooBig }), status.RESOURCE_EXHAUSTED, 'larger than max');
    expectStatus(
      await unary(client, 'GetKeyset', { admin_token: ADMIN_TOKEN.repeat(200) }),
      status.RESOURCE_EXHAUSTED,
    );
    // 1 MiB of an unknown field: refused on its length prefix, before anything is decoded.
    expectStatus(
      await rawUnary(raw, 'RotateSecret', message(lenField(15, new Uint8Array(1 << 20)))),
      status.RESOURCE_EXHAUSTED,
    );
    // A gzip bomb: 2 MiB that compress to a few KiB are refused once decompression passes the limit.
    const gzip = new SecretServiceClient(`127.0.0.1:${controlPlane.grpcPort}`, credentials.createInsecure(), {
      'grpc.default_compression_algorithm': 2,
    });
    try {
      const bomb = newSecret('bomb').padEnd(2 << 20, 'y');
      secrets.push(bomb);
      expectStatus(
        await unary(gzip, 'RotateSecret', { admin_token: ADMIN_TOKEN, new_secret: bomb }),
        status.RESOURCE_EXHAUSTED,
        'decompresses to a size larger than',
      );
    } finally {
      gzip.close();
    }
    // Metadata past HTTP/2's header list limit (64 KiB) is refused by the transport; below it, a long wrong
    // bearer token is just a wrong token.
    const hugeBearer = await unary(client, 'GetKeyset', { admin_token: '' }, bearer('b'.repeat(100_000)));
    expect(hugeBearer.error).toBeDefined();
    const longBearer = `${ADMIN_TOKEN}${'c'.repeat(32_000)}`;
    tokenCandidates.push(longBearer);
    expectStatus(
      await unary(client, 'GetKeyset', { admin_token: '' }, bearer(longBearer)),
      status.PERMISSION_DENIED,
      'Invalid admin token',
    );
    expect(await snapshot()).toEqual(before);
  });

  it('serves a request just under the limit', async () => {
    const before = (await keysetNow()).version;
    const long = newSecret('long').padEnd(MAX_REQUEST_BYTES - 200, 'z');
    secrets.push(long);
    const { response, error } = await rotate({ new_secret: long });
    expect(error).toBeUndefined();
    expect(response?.version).toBe(before + 1);
    expect((await admin.get(VALKEY_KEYS.active)) === long, 'jwt_secrets:active is the secret sent').toBe(
      true,
    );
  });

  it('ignores unknown fields of every wire type (proto3) and still applies the known ones', async () => {
    const before = (await keysetNow()).version;
    const secret = newSecret();
    const unknown = [
      varintField(5, 2n ** 63n),
      i64Field(6),
      lenField(7, [0xff, 0xfe, 0x00, 0x80]),
      i32Field(8),
      lenField(1000, 'not-a-field'),
      varintField(2 ** 29 - 1, 1),
    ];
    const request = message(
      ...unknown,
      lenField(1, ADMIN_TOKEN),
      ...unknown,
      lenField(2, secret),
      varintField(4, 0),
    );
    const rotated = await rawUnary<RotateSecretResponse>(raw, 'RotateSecret', request);
    expect(rotated.error).toBeUndefined();
    expect(rotated.response).toMatchObject({
      success: true,
      version: before + 1,
      kid: await computeKid(secret),
    });
    expect((await admin.get(VALKEY_KEYS.active)) === secret, 'jwt_secrets:active is the secret sent').toBe(
      true,
    );
    const read = await rawUnary<GetKeysetResponse>(
      raw,
      'GetKeyset',
      message(lenField(9, 'x'), lenField(1, ADMIN_TOKEN), varintField(2, 7)),
    );
    expect(read.response?.version).toBe(before + 1);
  });

  it('installs a valid UTF-8 secret byte for byte, byte order mark and all', async () => {
    for (const secret of [newSecret('ünïcödé-€-𝄞'), `\uFEFF${newSecret('bom')}`]) {
      secrets.push(secret);
      const { response, error } = await rawUnary<RotateSecretResponse>(
        raw,
        'RotateSecret',
        message(lenField(1, ADMIN_TOKEN), lenField(2, secret)),
      );
      expect(error).toBeUndefined();
      expect(response?.kid).toBe(await computeKid(secret));
      const state = JSON.parse((await admin.get(VALKEY_KEYS.state)) as string) as {
        keys: Array<{ status: string; k: string }>;
      };
      expect(state.keys.find((key) => key.status === 'active')?.k).toBe(encodeBase64url(utf8(secret)));
      // jwt_secrets:active is checked for the secret without a BOM only: ValkeyStorage writes it through a
      // TextDecoder that strips a leading BOM (reported; storage is not this file's to fix).
      if (!secret.startsWith('\uFEFF')) {
        expect((await admin.getBuffer(VALKEY_KEYS.active))?.equals(Buffer.from(secret, 'utf8'))).toBe(true);
      }
    }
  });

  it('refuses a new_secret that is not valid UTF-8 with INVALID_ARGUMENT, changing nothing', async () => {
    // protobufjs on Node replaced each bad byte with U+FFFD and installed that: a key other than the one sent.
    const before = await snapshot();
    const cases: Array<[string, number[]]> = [
      ['lone continuation byte', [0x80]],
      ['0xff', [0xff]],
      ['overlong slash', [0xc0, 0xaf]],
      ['UTF-16 surrogate', [0xed, 0xa0, 0x80]],
      ['code point past U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
      ['truncated sequence', [0xe2, 0x82]],
    ];
    for (const [name, bad] of cases) {
      const outcome = await rawUnary(
        raw,
        'RotateSecret',
        message(lenField(1, ADMIN_TOKEN), lenField(2, notUtf8(bad))),
      );
      expectStatus(outcome, status.INVALID_ARGUMENT, 'new_secret is not valid UTF-8');
      expect(outcome.error?.details, name).toMatch(/^Secret rejected/);
    }
    // A valid occurrence after an invalid one does not launder the message.
    expectStatus(
      await rawUnary(
        raw,
        'RotateSecret',
        message(lenField(1, ADMIN_TOKEN), lenField(2, notUtf8([0x80])), lenField(2, newSecret())),
      ),
      status.INVALID_ARGUMENT,
      'not valid UTF-8',
    );
    expectStatus(
      await rawUnary(raw, 'RevokeKey', message(lenField(1, ADMIN_TOKEN), lenField(2, [0x6b, 0xff]))),
      status.INVALID_ARGUMENT,
      'kid is not valid UTF-8',
    );
    expect(await snapshot()).toEqual(before);
  });

  it('answers PERMISSION_DENIED for an admin_token that is not valid UTF-8, even with the right bearer', async () => {
    const before = await snapshot();
    const tokenBytes = [...utf8(ADMIN_TOKEN)];
    // The token with one stray byte inside: not UTF-8, so not the token, whatever a lenient decoder makes of it.
    const spliced = [...tokenBytes.slice(0, 32), 0x80, ...tokenBytes.slice(32)];
    expectStatus(
      await rawUnary(raw, 'RotateSecret', message(lenField(1, spliced), lenField(2, newSecret()))),
      status.PERMISSION_DENIED,
      'Invalid admin token',
    );
    expectStatus(
      await rawUnary(
        raw,
        'GetKeyset',
        message(lenField(1, [...tokenBytes.slice(0, 63), 0xc3])),
        bearer(ADMIN_TOKEN),
      ),
      status.PERMISSION_DENIED,
      'Invalid admin token',
    );
    // Bad bytes in both fields: the token is judged first, so nothing is said about the secret.
    const both = await rawUnary(
      raw,
      'RotateSecret',
      message(lenField(1, [0xff, ...tokenBytes]), lenField(2, notUtf8([0xff]))),
    );
    expectStatus(both, status.PERMISSION_DENIED, 'Invalid admin token');
    expect(await snapshot()).toEqual(before);
  });

  it('refuses wrong wire types and malformed bytes with INVALID_ARGUMENT before looking at the token', async () => {
    const before = await snapshot();
    const token = lenField(1, ADMIN_TOKEN);
    const secret = lenField(2, newSecret());
    const cases: Array<[string, string, Uint8Array, RegExp]> = [
      [
        'RotateSecret',
        'admin_token as varint',
        message(varintField(1, 5), secret),
        /field 1 \(admin_token\) has wire type 0/,
      ],
      // protobufjs took the varint as a length and swallowed the next field into admin_token.
      [
        'RotateSecret',
        'varint swallowing the next field',
        message(varintField(1, 6), token, secret),
        /wire type 0/,
      ],
      [
        'RotateSecret',
        'new_secret as 64-bit',
        message(token, i64Field(2)),
        /field 2 \(new_secret\) has wire type 1/,
      ],
      ['RotateSecret', 'new_secret as 32-bit', message(token, i32Field(2)), /wire type 5/],
      [
        'RotateSecret',
        'generate as length-delimited',
        message(token, lenField(3, [1])),
        /field 3 \(generate\)/,
      ],
      [
        'RotateSecret',
        'group',
        message(token, [...tag(9, WIRE.startGroup), ...tag(9, WIRE.endGroup)]),
        /start-group/,
      ],
      ['RotateSecret', 'wire type 6', message(token, tag(10, 6)), /wire type 6/],
      ['RotateSecret', 'wire type 7', message(token, secret, tag(10, 7)), /wire type 7/],
      ['RotateSecret', 'field number 0', message(token, [0x02, 0x00]), /field number 0/],
      ['RotateSecret', 'truncated string', message(token, [...tag(2, WIRE.len), 100, 0x61]), /truncated/],
      ['RotateSecret', 'truncated tag', message(token, [0x80]), /truncated field tag/],
      [
        'RotateSecret',
        'varint of 11 bytes',
        message(token, tag(3, 0), Array(10).fill(0xff), [0x01]),
        /longer than 10 bytes/,
      ],
      ['RotateSecret', 'tag past 32 bits', message(token, varint(2n ** 40n)), /out of range/],
      [
        'RotateSecret',
        'length past the end',
        message(token, tag(7, WIRE.len), varint(2n ** 35n)),
        /truncated/,
      ],
      ['GetKeyset', 'admin_token as 32-bit', message(i32Field(1)), /field 1 \(admin_token\)/],
      ['RevokeKey', 'kid as varint', message(token, varintField(2, 1)), /field 2 \(kid\)/],
    ];
    for (const [method, name, bytes, details] of cases) {
      const outcome = await rawUnary(raw, method, bytes);
      expect(outcome.error?.code, `${method}: ${name}`).toBe(status.INVALID_ARGUMENT);
      expect(outcome.error?.details, `${method}: ${name}`).toMatch(/^Malformed request: /);
      expect(outcome.error?.details, `${method}: ${name}`).toMatch(details);
    }
    expect(await snapshot()).toEqual(before);
  });

  // Every rotation keeps its predecessor in grace (24 h), so the keyset grows by one key per rotation; past
  // ~149 keys it would seal over the edges' 64 KiB limit and RotateSecret refuses (keyset-size.test.ts).
  // 120 leaves room for the rotations the other tests here make.
  it(`answers 2,000 concurrent GetKeyset and ${CONCURRENT_ROTATIONS} concurrent RotateSecret, losing and duplicating no version`, async () => {
    const before = await snapshot();
    const v0 = before.keyset.version;
    // Four channels (distinct options: distinct connections), the calls spread over them.
    const channels = Array.from(
      { length: 4 },
      (_, i) =>
        new SecretServiceClient(`127.0.0.1:${controlPlane.grpcPort}`, credentials.createInsecure(), {
          'keyward.test.channel': i,
        }),
    );
    try {
      const rotations = Array.from({ length: CONCURRENT_ROTATIONS }, () => newSecret('concurrent'));
      const channel = (i: number) => channels[i % channels.length] as Client;
      const md = () => new Metadata();
      const reads = Array.from({ length: 2_000 }, (_, i) =>
        unary<GetKeysetResponse>(
          channel(i),
          'GetKeyset',
          { admin_token: ADMIN_TOKEN },
          md(),
          LOAD_DEADLINE_MS,
        ),
      );
      const writes = rotations.map((secret, i) =>
        unary<RotateSecretResponse>(
          channel(i),
          'RotateSecret',
          { admin_token: ADMIN_TOKEN, new_secret: secret },
          md(),
          LOAD_DEADLINE_MS,
        ),
      );
      const [readOutcomes, writeOutcomes] = await Promise.all([Promise.all(reads), Promise.all(writes)]);

      // Every read answered OK with a version that existed during the run.
      for (const outcome of readOutcomes) {
        expect(outcome.error?.details).toBeUndefined();
        expect(outcome.response?.version).toBeGreaterThanOrEqual(v0);
      }
      // Every rotation answered OK (this process queues its own writes, so none loses a race).
      const ok: Array<{ secret: string; version: number; kid: string }> = [];
      for (const [i, outcome] of writeOutcomes.entries()) {
        expect(outcome.error?.details).toBeUndefined();
        const secret = rotations[i] as string;
        expect(outcome.response?.kid).toBe(await computeKid(secret));
        ok.push({
          secret,
          version: outcome.response?.version as number,
          kid: outcome.response?.kid as string,
        });
      }
      expect(ok.length).toBe(rotations.length);
      // OK versions are exactly v0+1 .. v0+n: none lost, none given twice.
      expect(ok.map((r) => r.version).sort((a, b) => a - b)).toEqual(
        Array.from({ length: ok.length }, (_, i) => v0 + 1 + i),
      );
      for (const outcome of readOutcomes) {
        expect(outcome.response?.version).toBeLessThanOrEqual(v0 + ok.length);
      }
      const newest = ok.reduce((a, b) => (b.version > a.version ? b : a));
      const [active, , , version] = await admin.mget(
        VALKEY_KEYS.active,
        VALKEY_KEYS.keyset,
        VALKEY_KEYS.state,
        VALKEY_KEYS.version,
      );
      expect(Number(version)).toBe(v0 + ok.length);
      expect(active === newest.secret, 'jwt_secrets:active is the newest secret').toBe(true);
      // Every secret that answered OK is in the keyset and in the history, once.
      const after = await keysetNow();
      expect(after.version).toBe(v0 + ok.length);
      expect(after.keys.find((key) => key.status === 'active')?.kid).toBe(newest.kid);
      const kids = after.keys.map((key) => key.kid);
      for (const r of ok) expect(kids).toContain(r.kid);
      const historyKids = Object.values(await admin.hgetall(VALKEY_KEYS.history)).map(
        (json) => (JSON.parse(json) as { kid: string }).kid,
      );
      expect(new Set(historyKids).size).toBe(historyKids.length);
      for (const r of ok) expect(historyKids).toContain(r.kid);
      expect(historyKids.length).toBe(before.history.count + ok.length);
    } finally {
      for (const channel of channels) channel.close();
    }
    // The process is still serving: health, a read and a rotation.
    const definition = loadSync(healthProtoPath, { keepCase: true, enums: String, defaults: true });
    const Health = (
      ((loadPackageDefinition(definition).grpc as GrpcObject).health as GrpcObject).v1 as GrpcObject
    ).Health as ServiceClientConstructor;
    const health = new Health(`127.0.0.1:${controlPlane.grpcPort}`, credentials.createInsecure());
    try {
      expect((await unary<{ status: string }>(health, 'Check', { service: '' })).response?.status).toBe(
        'SERVING',
      );
    } finally {
      health.close();
    }
    const last = await rotate({ new_secret: newSecret() });
    expect(last.error).toBeUndefined();
  });

  it('never lets the admin token or a secret reach a log line, a status message or a /metrics label', async () => {
    // Near misses: nothing, half, all but the last character, the token plus more, the token in the wrong case.
    const flip = (c: string) => (c === 'A' ? 'B' : 'A');
    const nearMisses = [
      flip(ADMIN_TOKEN[0] as string).repeat(64),
      `${ADMIN_TOKEN.slice(0, 32)}${flip(ADMIN_TOKEN[32] as string).repeat(32)}`,
      `${ADMIN_TOKEN.slice(0, 63)}${flip(ADMIN_TOKEN[63] as string)}`,
      `${ADMIN_TOKEN}${ADMIN_TOKEN}`,
    ];
    tokenCandidates.push(...nearMisses);
    for (const candidate of nearMisses) {
      expectStatus(
        await rotate({ admin_token: candidate, new_secret: newSecret() }),
        status.PERMISSION_DENIED,
        'Invalid admin token',
      );
    }
    await keysetNow(); // resets the brake
    expectStatus(
      await unary(client, 'GetKeyset', { admin_token: '' }, bearer(nearMisses[2] as string)),
      status.PERMISSION_DENIED,
    );
    await keysetNow();

    const metrics = await (await fetch(`${http}/metrics`)).text();
    const labelValues = [...metrics.matchAll(/\w+="([^"]*)"/g)].map((match) => match[1] as string);
    expect(labelValues.length).toBeGreaterThan(0);
    for (const value of labelValues) {
      expect(value.length, 'a metric label value').toBeLessThan(64);
    }
    expect(metrics).toMatch(/keyward_admin_calls_total\{rpc="RotateSecret",outcome="invalid_argument"\} \d+/);

    expect(logLines.length).toBeGreaterThan(2_000);
    expect(statusDetails.length).toBeGreaterThan(30);
    const places = {
      'the log': logLines.join('\n'),
      'a status message': statusDetails.join('\n'),
      '/metrics': metrics,
    };
    // Any 16 characters of the token would be a leak, and so would a near miss or a secret's random part.
    // All of those are base64(url) text, so a leak lies inside one run of base64 characters: comparing
    // against the distinct runs is as thorough as scanning the whole text, and much faster.
    const needles = [
      ...Array.from({ length: ADMIN_TOKEN.length - 15 }, (_, i) => ADMIN_TOKEN.slice(i, i + 16)),
      ...tokenCandidates.map((candidate) => candidate.slice(0, 64)),
      ...randomParts,
      ...secrets.map((secret) => encodeBase64url(utf8(secret)).slice(0, 64)),
    ];
    for (const [where, text] of Object.entries(places)) {
      const runs = [...new Set(text.match(/[A-Za-z0-9+/=_-]{16,}/g) ?? [])];
      for (const needle of needles) {
        expect(
          runs.some((run) => run.includes(needle)),
          `${where} holds the token, a near miss or a secret`,
        ).toBe(false);
      }
    }
  });
});

describe('random and mutated request bytes', () => {
  it('never answer anything but INVALID_ARGUMENT, PERMISSION_DENIED or RESOURCE_EXHAUSTED, and change nothing', async () => {
    const lines: string[] = [];
    const controlPlane = await startControlPlane(
      loadConfig({
        ADMIN_TOKEN,
        SECRET_STORAGE: 'env',
        JWT_SECRET: newSecret(),
        GRPC_PORT: '0',
        HTTP_PORT: '0',
        HOST: '127.0.0.1',
        ROTATION_INTERVAL: 'off',
      }),
      createLogger('info', { write: (line: string) => void lines.push(line) }),
    );
    const raw = new Client(`127.0.0.1:${controlPlane.grpcPort}`, credentials.createInsecure());
    const allowed = [status.INVALID_ARGUMENT, status.PERMISSION_DENIED, status.RESOURCE_EXHAUSTED];
    const codes = new Map<status, number>();
    try {
      const before = fingerprint(await controlPlane.manager.keyset());
      // Unrelated to ADMIN_TOKEN, so that a counterexample fast-check prints shows nothing of it.
      const wrongToken = randomBytes(48).toString('base64url');
      const valid = message(lenField(1, wrongToken), lenField(2, newSecret()), varintField(3, 0));
      const methods = fc.constantFrom('RotateSecret', 'GetKeyset', 'RevokeKey');
      const noise = fc.tuple(methods, fc.uint8Array({ maxLength: 96 }));
      const mutated = fc
        .tuple(
          methods,
          fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), {
            minLength: 1,
            maxLength: 4,
          }),
          fc.nat(valid.length),
        )
        .map(([method, edits, cut]) => {
          const bytes = Uint8Array.from(valid);
          for (const [at, value] of edits) bytes[at] = value;
          return [method, bytes.subarray(0, Math.max(cut, 1))] as [string, Uint8Array];
        });
      await fc.assert(
        fc.asyncProperty(fc.oneof(noise, mutated), async ([method, bytes]) => {
          const outcome = await rawUnary(raw, method, bytes);
          const code = outcome.error?.code as status;
          codes.set(code, (codes.get(code) ?? 0) + 1);
          return outcome.error !== undefined && allowed.includes(code);
        }),
        { numRuns: 400, seed: 6 },
      );
      expect(fingerprint(await controlPlane.manager.keyset())).toBe(before);
      expect(codes.get(status.INVALID_ARGUMENT)).toBeGreaterThan(0);
      expect(codes.get(status.PERMISSION_DENIED)).toBeGreaterThan(0);
      expect(lines.join('\n').includes(wrongToken.slice(0, 16)), 'the log holds the token sent').toBe(false);
    } finally {
      raw.close();
      await controlPlane.stop();
    }
  });
});
