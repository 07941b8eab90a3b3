import pino, { type Logger, type DestinationStream } from 'pino';

export type { Logger };

// Redaction is by path; the secret scanner test in test/security proves nothing slips through.
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["tutorgate-signature"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'apiKey',
  'key',
  'secret',
  'token',
  'password',
  '*.apiKey',
  '*.secret',
  '*.token',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { service: 'tutorgate' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
