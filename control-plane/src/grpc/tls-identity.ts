/**
 * The gRPC server's certificate and key, replaceable while it listens: a grpc-js certificate provider whose
 * update reaches every listening socket through `setSecureContext`, so new connections get the new identity
 * and open ones keep theirs.
 */
import { createSecureContext } from 'node:tls';
import { experimental, type ServerCredentials } from '@grpc/grpc-js';

type IdentityListener = experimental.IdentityCertificateUpdateListener;

export class TlsIdentity implements experimental.CertificateProvider {
  #current: experimental.IdentityCertificateUpdate;
  readonly #listeners = new Set<IdentityListener>();

  constructor(certificate: Buffer, privateKey: Buffer) {
    this.#current = TlsIdentity.#checked(certificate, privateKey);
  }

  /** Server credentials that follow this identity. */
  credentials(): ServerCredentials {
    // grpc-js names its first parameter as the CA provider but uses it as the identity provider.
    return experimental.createCertificateProviderServerCredentials(this, null, false);
  }

  /** Replaces the identity; throws (and keeps the old one) when Node cannot build a TLS context from it. */
  update(certificate: Buffer, privateKey: Buffer): void {
    this.#current = TlsIdentity.#checked(certificate, privateKey);
    for (const listener of this.#listeners) listener(this.#current);
  }

  // grpc-js adds its socket's watcher only after registering here: the first identity is handed over on the
  // next microtask, once that watcher exists, or the socket would wait for an update that never comes.
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#listeners.add(listener);
    queueMicrotask(() => {
      if (this.#listeners.has(listener)) listener(this.#current);
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#listeners.delete(listener);
  }

  addCaCertificateListener(): void {}

  removeCaCertificateListener(): void {}

  static #checked(certificate: Buffer, privateKey: Buffer): experimental.IdentityCertificateUpdate {
    createSecureContext({ cert: certificate, key: privateKey });
    return { certificate, privateKey };
  }
}
