/**
 * Turns a failed first connection to Valkey into a message an operator can act on. The Valkey client reports a
 * failed TLS handshake only as "Connection is closed", so for rediss:// one handshake is tried here to name the
 * reason (an untrusted CA, most often). The URL is shown without its credentials.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { StorageUnavailableError } from '../errors.ts';

/** The error to stop start-up with when the first connection to `valkeyUrl` failed with `error`. */
export async function explainValkeyConnectFailure(
  valkeyUrl: string,
  tlsCaPath: string | undefined,
  error: unknown,
): Promise<Error> {
  let reason = ((error as Error).cause as Error | undefined)?.message ?? (error as Error).message;
  const url = URL.parse(valkeyUrl);
  if (url === null)
    return new StorageUnavailableError(`Cannot connect to VALKEY_URL: ${reason}`, { cause: error });
  const where = `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
  if (url.protocol === 'rediss:') {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const handshake = await tryTlsHandshake(host, Number(url.port || 6379), tlsCaPath);
    if (handshake?.stage === 'tcp') reason = handshake.reason;
    if (handshake?.stage === 'tls') {
      const hint = tlsCaPath
        ? "is VALKEY_TLS_CA the CA that signed Valkey's certificate?"
        : "set VALKEY_TLS_CA to the PEM file of the CA that signed Valkey's certificate";
      reason = `TLS handshake failed: ${handshake.reason} (${hint})`;
    }
  }
  return new StorageUnavailableError(`Cannot connect to Valkey at ${where}: ${reason}`, { cause: error });
}

/** Why a TLS connection fails, and whether it got as far as TCP; null when the handshake succeeds. */
function tryTlsHandshake(
  host: string,
  port: number,
  caPath: string | undefined,
): Promise<{ stage: 'tcp' | 'tls'; reason: string } | null> {
  return new Promise((resolve) => {
    const socket = connectTls({
      host,
      port,
      ...(caPath ? { ca: readFileSync(caPath) } : {}),
      ...(isIP(host) ? {} : { servername: host }),
    });
    let connected = false;
    const done = (outcome: { stage: 'tcp' | 'tls'; reason: string } | null) => {
      socket.destroy();
      resolve(outcome);
    };
    socket.once('connect', () => {
      connected = true;
    });
    socket.setTimeout(2_000, () => done(null));
    socket.once('secureConnect', () => done(null));
    socket.once('error', (failure: NodeJS.ErrnoException) =>
      done({
        stage: connected ? 'tls' : 'tcp',
        reason: failure.code ? `${failure.message} (${failure.code})` : failure.message,
      }),
    );
  });
}
