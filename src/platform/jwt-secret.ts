import { chmodSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const created = createSecretFile(config.TUTORGATE_DATA_DIR, file);
    if (created) return created;
    secret = readFileSync(file, 'utf8').trim(); // another process created it first
  }
  // The file is held to the variable's rule: it may have been restored from a bad backup,
  // written by hand, or left empty by a crash between its creation and its write.
  if (secret.length < MIN_SECRET_CHARS) {
    throw new ConfigError(`invalid configuration: TUTORGATE_DATA_DIR: ${file} holds a JWT secret under ${MIN_SECRET_CHARS} characters; put a longer one there or set TUTORGATE_JWT_SECRET (every JWT signed with the old one stops working)`);
  }
  return secret;
}

// Two processes starting at once on a fresh data directory (an instance and a `tutorgate
// token`, two replicas on one volume) both find no file. The secret is written whole to a
// file of this process's own, then linked into place, which fails if the name exists: the
// file is never seen half-written, and the process that loses the race reads the winner's
// secret (undefined here) instead of stopping on EEXIST or on an empty file.
function createSecretFile(dir: string, file: string): string | undefined {
  mkdirSync(dir, { recursive: true });
  const secret = randomToken(48);
  const own = `${file}.${process.pid}.${randomToken(6)}.tmp`;
  try {
    writeFileSync(own, secret + '\n', { mode: 0o600, flag: 'wx' });
    chmodSync(own, 0o600);
    linkSync(own, file);
    return secret;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw err;
  } finally {
    rmSync(own, { force: true });
  }
}
