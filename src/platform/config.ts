import { isIP } from 'node:net';
import { z } from 'zod';
import { deepFreeze } from './policy.js';
import { MAX_TIMER_MS } from './repeat-every.js';

// pg reads its URL with WHATWG URL (an empty host, `@/`, meaning the default socket). An
// unencoded '/', '?' or '#' in the password cuts the URL short: pg then fails at the first
// query with a bare "Invalid URL", or connects elsewhere ('#' after digits reads as a port).
const isPostgresUrl = (s: string) => /^postgres(ql)?:\/\//.test(s) && !s.includes('#') && URL.canParse(s.replace('@/', '@localhost/'));

const databaseUrl = z
  .string()
  .refine(
    (s) => (s.startsWith('sqlite:') && s.length > 'sqlite:'.length) || isPostgresUrl(s),
    'expected sqlite:PATH, sqlite::memory: or postgres://… (percent-encode /, ?, # and % in the user name and password)',
  );

const csv = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));

// What Fastify's trustProxy (proxy-addr) accepts: an address, a CIDR range or a named range.
function isProxyAddress(x: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(x)) return true;
  const [ip, bits, ...rest] = x.split('/');
  const v = isIP(ip ?? '');
  if (!v || rest.length) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (v === 4 ? 32 : 128));
}

// Whole decimal numbers only: Number() would read ' ' as 0, '0x50' as 80 and '1e3' as 1000.
const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));


const envSchema = z.object({
  PORT: wholeNumber(0, 65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: databaseUrl.default('sqlite:./data/tutorgate.db'),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  ANTHROPIC_API_KEY: z.string().min(1).optional(),
  ANTHROPIC_API_KEY_FILE: z.string().min(1).optional(),
  // The SDK speaks HTTP only: any other scheme passed here, and every call then failed
  // (answered from rules) while start-up and /readyz said ok.
  ANTHROPIC_BASE_URL: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).optional(),
  TUTORGATE_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  // The secret being rotated out: tokens signed with it still verify, nothing is signed with
  // it. Without it a new secret refused every token the identity provider had signed until
  // each client fetched a new one (docs/operations.md, "Rotate the JWT secret").
  TUTORGATE_JWT_SECRET_PREVIOUS: z.string().min(32, 'must be at least 32 characters').optional(),
  // The keys every token is checked with: fetched in clear, anyone on the way could swap in
  // their own and sign as any user. http only on this machine (a local test provider).
  TUTORGATE_JWKS_URL: z
    .url()
    .refine((u) => u.startsWith('https://') || /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?\//.test(u), 'expected an https:// URL (http:// only on localhost)')
    .optional(),
  TUTORGATE_JWT_ISSUER: z.string().min(1).optional(),
  TUTORGATE_JWT_AUDIENCE: z.string().min(1).optional(),
  TUTORGATE_POLICY: z.string().min(1).optional(),
  TUTORGATE_DATA_DIR: z.string().min(1).default('./data'),
  TUTORGATE_BODY_LIMIT: wholeNumber(1024, 10 * 1024 * 1024).default(64 * 1024),
  TUTORGATE_TRUST_PROXY: csv
    .refine((xs) => xs.every(isProxyAddress), 'expected comma-separated IP addresses, CIDR ranges or loopback, linklocal, uniquelocal')
    .optional(),
  TUTORGATE_WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  TUTORGATE_SHUTDOWN_TIMEOUT_MS: wholeNumber(0, MAX_TIMER_MS).default(10_000),
  TUTORGATE_AUTH_FAILURES_PER_MINUTE: wholeNumber(1, 1_000_000).default(30),
  TUTORGATE_ALERT_EVALUATOR: z.enum(['on', 'off']).default('on'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = Readonly<z.output<typeof envSchema>>;

// Every variable the service reads (the docs may name no other: test/ops/deploy-files.test.ts).
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

export class ConfigError extends Error {}

// Parsed once in main; a bad value stops start-up naming the variable (never its value:
// some of these are secrets).
export function parseConfig(env: NodeJS.ProcessEnv): Config {
  const picked: Record<string, string> = {};
  for (const key of CONFIG_VARIABLES) {
    // An empty or blank value is unset (a template's `PORT=` line); others are taken as given.
    const v = env[key];
    if (v !== undefined && v.trim() !== '') picked[key] = v;
  }
  const result = envSchema.safeParse(picked);
  if (!result.success) {
    const first = result.error.issues[0]!;
    throw new ConfigError(`invalid configuration: ${String(first.path[0])}: ${first.message}`);
  }
  if (result.data.ANTHROPIC_API_KEY && result.data.ANTHROPIC_API_KEY_FILE) {
    throw new ConfigError('invalid configuration: ANTHROPIC_API_KEY_FILE: set either ANTHROPIC_API_KEY or ANTHROPIC_API_KEY_FILE, not both');
  }
  if (result.data.TUTORGATE_JWT_SECRET && result.data.TUTORGATE_JWKS_URL) {
    throw new ConfigError('invalid configuration: TUTORGATE_JWKS_URL: set either TUTORGATE_JWT_SECRET or TUTORGATE_JWKS_URL, not both');
  }
  if (result.data.TUTORGATE_JWT_SECRET_PREVIOUS && !result.data.TUTORGATE_JWT_SECRET) {
    throw new ConfigError('invalid configuration: TUTORGATE_JWT_SECRET_PREVIOUS: set only beside TUTORGATE_JWT_SECRET, the secret that replaces it');
  }
  return deepFreeze(result.data);
}
