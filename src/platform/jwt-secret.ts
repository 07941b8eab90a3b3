import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './config.js';
import { randomToken } from './ids.js';

// With no TUTORGATE_JWT_SECRET (and no JWKS), a secret is generated once into the data
// directory, so a fresh `npm start` works and `tutorgate token` signs with the same one.
export function resolveJwtSecret(config: Config): string | undefined {
  if (config.TUTORGATE_JWT_SECRET) return config.TUTORGATE_JWT_SECRET;
  if (config.TUTORGATE_JWKS_URL) return undefined;
  const file = join(config.TUTORGATE_DATA_DIR, 'jwt-secret');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    mkdirSync(config.TUTORGATE_DATA_DIR, { recursive: true });
    const secret = randomToken(48);
    writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
    return secret;
  }
}
