/** `npm run start:control-plane`: configuration from the environment, SIGTERM/SIGINT drain and exit. */
import { loadConfig } from './config.ts';
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
