/**
 * `npm run start:control-plane`: configuration from the environment, SIGTERM/SIGINT drain and exit, SIGHUP
 * reloads ADMIN_TOKEN_FILE and the gRPC TLS certificate and key.
 */
import { loadAdminTokens, loadConfig, readTlsIdentity } from './config.ts';
import { startControlPlane } from './control-plane.ts';
import { ConfigError } from './errors.ts';
import { createLogger } from './logger.ts';

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig(process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`keyward: configuration error: ${error.message}\n`);
  process.exit(2);
}

const logger = createLogger(config.logLevel);
if (config.storageDefaulted) {
  // SPEC section 3 makes `env` the default without Valkey; said loudly, since keys then live only in memory.
  logger.warn(
    { storage: 'env' },
    'SECRET_STORAGE not set and no VALKEY_URL, VALKEY_SENTINELS or VALKEY_CLUSTER_NODES: keys live in this ' +
      "process's memory and are lost when it stops; set SECRET_STORAGE=env to mean it, or configure Valkey",
  );
}
const controlPlane = await startControlPlane(config, logger).catch((error: Error) => {
  logger.fatal({ cause: error.message }, 'control plane failed to start');
  process.exit(1);
});

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining');
    controlPlane.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

/** Re-reads what can change while running; a file that is bad now keeps the old values and logs an error. */
function reload(): void {
  let attempted = false;
  if (process.env.ADMIN_TOKEN_FILE) {
    attempted = true;
    try {
      const tokens = loadAdminTokens(process.env);
      controlPlane.adminAuth.setTokens(tokens);
      logger.info({ variable: 'ADMIN_TOKEN_FILE', tokens: tokens.length }, 'admin tokens reloaded');
    } catch (error) {
      logger.error(
        { variable: (error as ConfigError).variable, cause: (error as Error).message },
        'admin token reload failed; the previous tokens stay in force',
      );
    }
  }
  if (config.grpcTlsCert && config.grpcTlsKey && controlPlane.grpcTls) {
    attempted = true;
    try {
      const { certificate, privateKey } = readTlsIdentity(config.grpcTlsCert, config.grpcTlsKey);
      controlPlane.grpcTls.update(certificate, privateKey);
      logger.info({ variables: ['GRPC_TLS_CERT', 'GRPC_TLS_KEY'] }, 'gRPC TLS certificate and key reloaded');
    } catch (error) {
      logger.error(
        { variable: (error as ConfigError).variable ?? 'GRPC_TLS_CERT', cause: (error as Error).message },
        'gRPC TLS reload failed; the previous certificate and key stay in force',
      );
    }
  }
  if (!attempted)
    logger.info({ signal: 'SIGHUP' }, 'nothing to reload: neither ADMIN_TOKEN_FILE nor GRPC_TLS_CERT is set');
}

process.on('SIGHUP', () => {
  if (!stopping) reload();
});
