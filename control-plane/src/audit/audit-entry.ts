/**
 * The audit log of admin actions (`jwt_secrets:audit` in Valkey, in memory for env storage): one JSON entry per
 * action, each carrying the hash of the entry before it, so that an entry edited or removed breaks a link
 * `npx keyward audit` names. Entries hold who did what to which version and kid; never a secret or a token.
 */
import { createHash } from 'node:crypto';

/** What a keyset write records about the admin action behind it. */
export interface AuditAction {
  action:
    | 'rotate'
    | 'rotate_emergency'
    | 'rotate_scheduled'
    | 'revoke'
    | 'stage'
    | 'promote'
    | 'promote_emergency'
    | 'revoke_tokens';
  /** The caller's peer address (gRPC), or `scheduler`. */
  actor: string;
  /** The new active kid for a rotation or promotion, the staged kid, or the revoked kid ('' for revoke_tokens). */
  kid: string;
  /** revoke_tokens: how many jtis, and the subject ('' for none). Never the jtis themselves: the count says enough. */
  revoked?: { jtis: number; subject: string };
}

export interface AuditEntry extends AuditAction {
  /** 1 for the first entry, one more for each after it. */
  seq: number;
  at: string;
  /** The keyset version the action wrote; for revoke_tokens, the revocation list's serial. */
  version: number;
  /** entryHash of the entry before this one, exactly as stored; null for the first. */
  prev: string | null;
}

/** base64url SHA-256 of an entry's stored text. */
export function entryHash(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}

/** The entry that follows `tail` (the stored text of the last entry, null for none), as text and its hash. */
export function nextAuditEntry(
  tail: string | null,
  action: AuditAction,
  version: number,
  now: Date,
): { text: string; hash: string } {
  const seq = tail === null ? 1 : (Number((JSON.parse(tail) as Partial<AuditEntry>).seq) || 0) + 1;
  const entry: AuditEntry = {
    seq,
    at: now.toISOString(),
    action: action.action,
    actor: action.actor,
    version,
    kid: action.kid,
    ...(action.revoked === undefined ? {} : { revoked: action.revoked }),
    prev: tail === null ? null : entryHash(tail),
  };
  const text = JSON.stringify(entry);
  return { text, hash: entryHash(text) };
}
