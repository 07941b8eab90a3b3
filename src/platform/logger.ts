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

// What the service's own destination (pino's asynchronous sonic-boom on stdout) exposes;
// a destination passed in (a test's stream, stderr) has none of it and is not waited for.
interface AsyncDestination {
  _len?: number;
  _writing?: boolean;
  destroyed?: boolean;
  destroy?: () => void;
  once?: (event: 'error', listener: () => void) => void;
}

function unwritten(dest: AsyncDestination): boolean {
  return !dest.destroyed && (Boolean(dest._writing) || (dest._len ?? 0) > 0);
}

// Exits with `code` once the lines logged so far are written, or after `withinMs` at most.
// pino writes stdout asynchronously and, on process.exit, writes what is left synchronously;
// that synchronous flush (sonic-boom) retries a failing write every 100 ms for ever. With
// stdout a pipe whose reader has gone (`serve | head`) and the EPIPE not yet seen, exit
// never returned: the process stopped listening and lived on, the event loop blocked so the
// shutdown deadline could not fire. Lines still unwritten at `withinMs` are given up (the
// destination is destroyed, which pino's exit flush skips), so the exit is always bounded.
export async function exitAfterLogs(logger: Logger, code: number, withinMs: number): Promise<never> {
  const dest = (logger as unknown as Record<symbol, AsyncDestination | undefined>)[pino.symbols.streamSym] ?? {};
  if (unwritten(dest)) {
    let failed = false;
    dest.once?.('error', () => (failed = true));
    const end = Date.now() + withinMs;
    while (unwritten(dest) && !failed && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    if (unwritten(dest)) dest.destroy?.();
  }
  process.exit(code);
}
