import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type Config } from './config.js';
import { randomToken } from './ids.js';

// As TUTORGATE_JWT_SECRET (config.ts): a shorter HS256 key can be brute-forced offline from
// any one token.
const MIN_SECRET_CHARS = 32;

// With no TUTORGATE_JWT_SECRET (and no JWKS), a secret is generated once into the data
// directory, so a fresh `npm start` works and `tutorgate token` signs with the same one.
export function resolveJwtSecret(config: Config): string | undefined {
  if (config.TUTORGATE_JWT_SECRET) return config.TUTORGATE_JWT_SECRET;
  if (config.TUTORGATE_JWKS_URL) return undefined;
  const file = join(config.TUTORGATE_DATA_DIR, 'jwt-secret');
  let secret: string;
  try {
    secret = readFileSync(file, 'utf8').trim();
  } catch {
    mkdirSync(config.TUTORGATE_DATA_DIR, { recursive: true });
    secret = randomToken(48);
    writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
    return secret;
  }
  // The file is held to the variable's rule: it may have been restored from a bad backup,
  // written by hand, or left empty by a crash between its creation and its write.
  if (secret.length < MIN_SECRET_CHARS) {
    throw new ConfigError(`invalid configuration: TUTORGATE_DATA_DIR: ${file} holds a JWT secret under ${MIN_SECRET_CHARS} characters; put a longer one there or set TUTORGATE_JWT_SECRET (every JWT signed with the old one stops working)`);
  }
  return secret;
}
