/**
 * cpc.orchestrator.SecretService. Each RPC is a transport-free method (tests call them directly); the
 * handlers only pull the peer and the token out of the call and map errors in grpc/status-mapping.ts.
 */
import type { Metadata, Server, ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { bearerCredentials } from '../../../shared/bearer-token.ts';
import { findActiveKey, type Keyset, promoteKey } from '../../../shared/keyset.ts';
import { checkRevocationRequest } from '../../../shared/revocations.ts';
import { type AdminAuth, INVALID_ADMIN_TOKEN } from '../admin-auth.ts';
import { ControlPlaneError } from '../errors.ts';
import type { KeysetManager } from '../keyset/keyset-manager.ts';
import type { Logger } from '../logger.ts';
import type { ControlPlaneMetrics } from '../metrics.ts';
import { type EdgePusher, edgeTargetReport, type PushOutcome } from '../push/edge-pusher.ts';
import type { RevocationLog } from '../revocation/revocation-log.ts';
import type { RevocationPusher } from '../revocation/revocation-pusher.ts';
import { confirmEdgesHold, describeUnconfirmed } from '../rotation/edge-confirmation.ts';
import { parseKeyAlg } from '../rotation/new-key.ts';
import { type RotationStatus, rotationSchedule } from '../rotation/rotation-status.ts';
import type { StoredKeyset } from '../storage/keyset-storage.ts';
import {
  type GetKeysetRequest,
  type GetKeysetResponse,
  type PromoteKeyRequest,
  type PromoteKeyRequest__Input,
  type PromoteKeyResponse,
  type RevokeKeyRequest,
  type RevokeKeyResponse,
  type RevokeTokensRequest,
  type RevokeTokensRequest__Input,
  type RevokeTokensResponse,
  type RotateSecretRequest,
  type RotateSecretRequest__Input,
  type RotateSecretResponse,
  type RotationSchedule,
  type SecretServiceHandlers,
  type StageKeyRequest,
  type StageKeyRequest__Input,
  type StageKeyResponse,
  strictSecretServiceDefinition,
} from './proto.ts';
import { toGrpcError } from './status-mapping.ts';
import { requestProblems } from './strict-request-decoder.ts';

export interface SecretServiceOptions {
  manager: KeysetManager;
  auth: AdminAuth;
  logger: Logger;
  metrics?: ControlPlaneMetrics;
  pusher?: EdgePusher;
  /** The scheduled rotation as this replica sees it, for GetKeyset (absent: not reported). */
  rotationStatus?: () => Promise<RotationStatus>;
  /** RevokeTokens' list and its push (absent: RevokeTokens is refused). */
  revocations?: RevocationLog;
  revocationPusher?: RevocationPusher;
}

export interface CallContext {
  /** The caller's address without port: the unit of the failed-token brake. */
  peer: string;
  /** The `authorization: Bearer` metadata token, if any. */
  bearer?: string;
}

/** Fields for the access log, filled in by each RPC as it goes. */
interface AccessNote {
  version?: number;
  kid?: string;
}

/** Unconfirmed edges an answer's message names; the answer's `edges` list every edge. */
const MESSAGE_EDGES = 10;

export class SecretService {
  readonly #options: SecretServiceOptions;
  /** The tail of the queue of this process's keyset writes (see #serialize). */
  #writes: Promise<unknown> = Promise.resolve();

  constructor(options: SecretServiceOptions) {
    this.#options = options;
  }

  addToServer(server: Pick<Server, 'addService'>): void {
    const implementation: SecretServiceHandlers = {
      RotateSecret: this.#handler('RotateSecret', (ctx, req: RotateSecretRequest, note) =>
        this.rotateSecret(ctx, req, note),
      ),
      GetKeyset: this.#handler('GetKeyset', (ctx, req: GetKeysetRequest, note) =>
        this.getKeyset(ctx, req, note),
      ),
      RevokeKey: this.#handler('RevokeKey', (ctx, req: RevokeKeyRequest, note) =>
        this.revokeKey(ctx, req, note),
      ),
      StageKey: this.#handler('StageKey', (ctx, req: StageKeyRequest, note) => this.stageKey(ctx, req, note)),
      PromoteKey: this.#handler('PromoteKey', (ctx, req: PromoteKeyRequest, note) =>
        this.promoteKey(ctx, req, note),
      ),
      RevokeTokens: this.#handler('RevokeTokens', (ctx, req: RevokeTokensRequest, note) =>
        this.revokeTokens(ctx, req, note),
      ),
    };
    server.addService(strictSecretServiceDefinition, implementation);
  }

  async rotateSecret(
    ctx: CallContext,
    request: RotateSecretRequest__Input,
    note: AccessNote = {},
  ): Promise<RotateSecretResponse> {
    this.#authorize(ctx, request.admin_token);
    const alg = parseKeyAlg(request.alg ?? '', 'HS256');
    const secret = request.new_secret ?? '';
    if (alg !== 'HS256' && secret !== '') {
      // Refused before anything else: an asymmetric private key never travels in a request.
      throw new ControlPlaneError(
        'invalid_argument',
        `new_secret must be empty for ${alg}: the server generates ${alg} key pairs itself (set generate)`,
      );
    }
    if (secret !== '' && request.generate) {
      throw new ControlPlaneError('invalid_argument', 'Set new_secret or generate, not both');
    }
    if (alg === 'HS256' && secret === '' && !request.generate) {
      throw new ControlPlaneError(
        'invalid_argument',
        'Secret too weak: new_secret is empty (or set generate)',
      );
    }
    const stored = await this.#serialize(() =>
      this.#options.manager.rotate({
        alg,
        secret: alg !== 'HS256' || request.generate ? undefined : secret,
        emergency: request.emergency,
        actor: ctx.peer,
      }),
    );
    const active = findActiveKey(stored.keyset);
    note.version = stored.keyset.version;
    note.kid = active?.kid;
    this.#options.logger.info(
      {
        version: stored.keyset.version,
        kid: active?.kid,
        alg: active?.alg,
        emergency: Boolean(request.emergency),
      },
      'Rotating JWT secret',
    );
    this.#options.metrics?.rotations.inc({ kind: request.emergency ? 'emergency' : 'manual' });
    const { edges, version, edgeNote } = await this.#pushRound(stored);
    return {
      success: true,
      message: `${alg === 'HS256' ? 'Secret' : `${alg} key`} rotated to version ${version}${request.emergency ? ' (emergency: earlier secrets expired)' : ''}${edgeNote}`,
      version,
      kid: active?.kid ?? '',
      edges,
    };
  }

  async stageKey(
    ctx: CallContext,
    request: StageKeyRequest__Input,
    note: AccessNote = {},
  ): Promise<StageKeyResponse> {
    this.#authorize(ctx, request.admin_token);
    const alg = parseKeyAlg(request.alg ?? '');
    const secret = request.new_secret ?? '';
    const { stored, kid } = await this.#serialize(() =>
      this.#options.manager.stage({ alg, secret: secret === '' ? undefined : secret, actor: ctx.peer }),
    );
    note.version = stored.keyset.version;
    note.kid = kid;
    this.#options.logger.info({ version: stored.keyset.version, kid, alg }, 'Staging standby key');
    this.#options.metrics?.rotations.inc({ kind: 'stage' });
    const { edges, version, edgeNote } = await this.#pushRound(stored);
    return {
      success: true,
      message: `${alg} key ${kid} staged as standby in version ${version}${edgeNote}`,
      version,
      kid,
      edges,
    };
  }

  async promoteKey(
    ctx: CallContext,
    request: PromoteKeyRequest__Input,
    note: AccessNote = {},
  ): Promise<PromoteKeyResponse> {
    this.#authorize(ctx, request.admin_token);
    // No key has an empty kid, so an empty one is NOT_FOUND like any kid that is not standby (SPEC section 8).
    const kid = request.kid ?? '';
    note.kid = kid;
    const current = await this.#options.manager.keyset();
    // The same checks the write makes (NOT_FOUND for a kid that is not standby), before any edge is asked.
    promoteKey(current.keyset, kid, { now: new Date(), gracePeriodMs: 0 });
    if (request.force) {
      this.#options.logger.warn(
        { kid, version: current.keyset.version },
        'Promoting with force: edges that have not confirmed the standby key are not waited for',
      );
    } else {
      await this.#assertEdgesHold(current, kid);
    }
    const stored = await this.#serialize(() =>
      this.#options.manager.promote(kid, { emergency: request.emergency, actor: ctx.peer }),
    );
    note.version = stored.keyset.version;
    this.#options.logger.info(
      {
        version: stored.keyset.version,
        kid,
        alg: findActiveKey(stored.keyset)?.alg,
        emergency: Boolean(request.emergency),
        force: Boolean(request.force),
      },
      'Rotating JWT secret: promoting standby key',
    );
    this.#options.metrics?.rotations.inc({ kind: request.emergency ? 'promote_emergency' : 'promote' });
    const { edges, version, edgeNote } = await this.#pushRound(stored);
    return {
      success: true,
      message: `Key ${kid} promoted to active in version ${version}${request.emergency ? ' (emergency: earlier keys expired)' : ''}${edgeNote}`,
      version,
      edges,
    };
  }

  async revokeTokens(
    ctx: CallContext,
    request: RevokeTokensRequest__Input,
    note: AccessNote = {},
  ): Promise<RevokeTokensResponse> {
    this.#authorize(ctx, request.admin_token);
    const checked = checkRevocationRequest(request.jtis ?? [], request.subject ?? '');
    const log = this.#options.revocations;
    if (log === undefined) {
      throw new ControlPlaneError('failed_precondition', 'Token revocation is not configured here');
    }
    const state = await log.revoke(checked, ctx.peer);
    const serial = state.list.serial;
    note.version = serial;
    // Counts only: jtis and subjects identify users, and the audit log (admin-only) has the subject.
    this.#options.logger.info(
      { serial, jtis: checked.jtis.length, subject: checked.subject !== '', live: state.live },
      'Revoking tokens',
    );
    const edges = (await this.#options.revocationPusher?.pushAll(state)) ?? [];
    const what = [
      checked.jtis.length > 0 ? `${checked.jtis.length} jti${checked.jtis.length === 1 ? '' : 's'}` : '',
      checked.subject !== '' ? 'the subject' : '',
    ]
      .filter(Boolean)
      .join(' and ');
    return {
      success: true,
      message: `Revoked ${what} until REVOCATION_TTL passes (revocation serial ${serial}, ${state.live} live)${edgeNote(edges)}`,
      version: serial,
      edges,
    };
  }

  /** Refuses the promotion while any edge has not confirmed a keyset holding the standby `kid`. */
  async #assertEdgesHold(current: StoredKeyset, kid: string): Promise<void> {
    const confirmation = await confirmEdgesHold(this.#options, current, kid);
    if (confirmation.missing.length > 0) {
      throw new ControlPlaneError(
        'failed_precondition',
        `Key ${kid} not promoted: ${describeUnconfirmed(confirmation)}; retry once they have, or promote with force`,
      );
    }
  }

  /** Pushes `stored` to every edge; the version to report and a note on the edges for the message. */
  async #pushRound(
    stored: StoredKeyset,
  ): Promise<{ edges: PushOutcome[]; version: number; edgeNote: string }> {
    const edges = (await this.#options.pusher?.pushAll(stored)) ?? [];
    // Edges holding another keyset at this version make the pusher write it again above theirs.
    const version = Math.max(
      stored.keyset.version,
      ...edges.filter((edge) => edge.confirmed).map((edge) => edge.version),
    );
    return { edges, version, edgeNote: edgeNote(edges) };
  }

  async getKeyset(
    ctx: CallContext,
    request: GetKeysetRequest,
    note: AccessNote = {},
  ): Promise<GetKeysetResponse> {
    this.#authorize(ctx, request.admin_token);
    const { keyset } = await this.#options.manager.keyset();
    note.version = keyset.version;
    const status = await this.#options.rotationStatus?.();
    return describeKeyset(keyset, this.#options.pusher, status ? rotationSchedule(status) : null);
  }

  async revokeKey(
    ctx: CallContext,
    request: RevokeKeyRequest,
    note: AccessNote = {},
  ): Promise<RevokeKeyResponse> {
    this.#authorize(ctx, request.admin_token);
    if (!request.kid) throw new ControlPlaneError('invalid_argument', 'kid is required');
    const stored: StoredKeyset = await this.#serialize(() =>
      this.#options.manager.revoke(request.kid, ctx.peer),
    );
    note.version = stored.keyset.version;
    note.kid = request.kid;
    this.#options.metrics?.rotations.inc({ kind: 'revoke' });
    await this.#options.pusher?.pushAll(stored);
    return {
      success: true,
      message: `Key revoked; keyset version ${stored.keyset.version}`,
      version: stored.keyset.version,
    };
  }

  /**
   * Runs this process's keyset writes one at a time. Concurrent writers in one process otherwise race each
   * other through the storage's compare-and-swap: every loser re-reads and re-seals the whole keyset, so a few
   * hundred concurrent calls would take minutes and some would give up. Other replicas still race by CAS.
   */
  #serialize<T>(write: () => Promise<T>): Promise<T> {
    const result = this.#writes.then(write);
    this.#writes = result.catch(() => {});
    return result;
  }

  #authorize(ctx: CallContext, fieldToken: string | undefined): void {
    this.#options.auth.check(ctx.peer, fieldToken || ctx.bearer);
  }

  /**
   * Refuses what the strict decoder flagged. A malformed message is refused before the token is looked at
   * (its fields cannot be trusted); a token that is not UTF-8 is a wrong token (never the bearer's fallback);
   * any other field that is not UTF-8 is refused once the caller is authorized.
   */
  #screen(ctx: CallContext, request: unknown): void {
    const problems = requestProblems(request);
    if (problems === undefined) return;
    // grpc-js's own words for its limit, which covers the larger RevokeTokens: one message whichever refuses.
    if (problems.tooLarge !== undefined)
      throw new ControlPlaneError(
        'resource_exhausted',
        `Received message larger than max (${problems.tooLarge})`,
      );
    if (problems.malformed !== undefined)
      throw new ControlPlaneError('invalid_argument', `Malformed request: ${problems.malformed}`);
    if (problems.invalidUtf8.includes('admin_token')) {
      this.#options.auth.check(ctx.peer, undefined);
      throw new ControlPlaneError('permission_denied', INVALID_ADMIN_TOKEN);
    }
    this.#authorize(ctx, (request as { admin_token?: string }).admin_token);
    const fields = problems.invalidUtf8.join(', ');
    throw new ControlPlaneError(
      'invalid_argument',
      problems.invalidUtf8.includes('new_secret')
        ? `Secret rejected: ${fields} is not valid UTF-8 (the HS256 key is the UTF-8 bytes of the secret text; send text, such as base64)`
        : `${fields} is not valid UTF-8`,
    );
  }

  #handler<Req, Res>(rpc: string, run: (ctx: CallContext, request: Req, note: AccessNote) => Promise<Res>) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      const ctx = { peer: peerAddress(call.getPeer()), bearer: bearerToken(call.metadata) };
      const note: AccessNote = {};
      const started = performance.now();
      const answer = (async () => {
        this.#screen(ctx, call.request);
        return run(ctx, call.request, note);
      })();
      answer.then(
        (response) => {
          this.#access(rpc, ctx.peer, 'ok', note, started);
          callback(null, response);
        },
        (error: unknown) => {
          const mapped = toGrpcError(error);
          if (mapped.unexpected) this.#options.logger.error({ err: error, rpc }, 'admin RPC failed');
          this.#access(rpc, ctx.peer, mapped.outcome, note, started);
          callback(mapped.error);
        },
      );
    };
  }

  #access(rpc: string, peer: string, outcome: string, note: AccessNote, started: number): void {
    const seconds = (performance.now() - started) / 1000;
    this.#options.metrics?.adminCalls.inc({ rpc, outcome });
    this.#options.metrics?.adminCallDuration.observe({ rpc }, seconds);
    this.#options.logger.info(
      {
        access: true,
        peer,
        rpc,
        outcome,
        version: note.version,
        kid: note.kid,
        ms: Math.round(seconds * 1000),
      },
      'admin call',
    );
  }
}

export function describeKeyset(
  keyset: Keyset,
  pusher?: EdgePusher,
  schedule: RotationSchedule | null = null,
): GetKeysetResponse {
  return {
    version: keyset.version,
    issued_at: keyset.issued_at,
    keys: keyset.keys.map((key) => ({
      kid: key.kid,
      alg: key.alg,
      secret_version: key.version,
      status: key.status,
      created_at: key.created_at,
      expires_at: key.expires_at ?? '',
    })),
    edges: (pusher?.targets ?? []).map(edgeTargetReport).map((edge) => ({
      ...edge,
      last_error: edge.last_error ?? '',
      last_success_at: edge.last_success_at ?? '',
      kids: edge.kids ?? [],
      kids_known: edge.kids !== null,
      clock_offset_ms: edge.clock_offset_ms ?? undefined,
      rtt_ms: edge.rtt_ms ?? undefined,
    })),
    schedule,
  };
}

/** How many edges confirmed a push, naming the others, for an RPC's message; '' without edges. */
function edgeNote(edges: readonly PushOutcome[]): string {
  if (edges.length === 0) return '';
  const confirmed = edges.filter((edge) => edge.confirmed).length;
  const missing = edges.filter((edge) => !edge.confirmed).map((edge) => edge.url);
  // The message names at most MESSAGE_EDGES of them: `edges` holds each one and why.
  const named =
    missing.length > MESSAGE_EDGES
      ? `${missing.slice(0, MESSAGE_EDGES).join(', ')} and ${missing.length - MESSAGE_EDGES} more`
      : missing.join(', ');
  return `; ${confirmed}/${edges.length} edges confirmed${missing.length ? ` (not confirmed: ${named})` : ''}`;
}

/** `ipv4:127.0.0.1:5000` / `ipv6:[::1]:5000` -> the address alone. */
export function peerAddress(peer: string): string {
  const withoutScheme = peer.replace(/^(ipv4|ipv6|unix):/, '');
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(withoutScheme);
  if (bracketed) return bracketed[1] as string;
  return withoutScheme.replace(/:\d+$/, '');
}

function bearerToken(metadata: Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  // An ADMIN_TOKEN may hold spaces: the whole credentials, not an RFC 6750 token.
  return typeof value === 'string' ? bearerCredentials(value) : undefined;
}
