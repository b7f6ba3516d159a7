/** Structured JSON logs (pino). Fields that could carry a secret are redacted whatever the caller passes. */
import { type Logger, pino } from 'pino';

export type { Logger };

export function createLogger(level = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'keyward-control-plane' },
      redact: {
        paths: [
          'admin_token',
          'new_secret',
          'secret',
          'authorization',
          '*.admin_token',
          '*.new_secret',
          '*.secret',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
