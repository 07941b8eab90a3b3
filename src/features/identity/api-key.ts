import { createHash } from 'node:crypto';
import { randomToken } from '../../platform/ids.js';

export const API_KEY_PREFIX = 'tg_';

export function generateApiKey(): string {
  return API_KEY_PREFIX + randomToken(32);
}

// The key has 256 bits of entropy, so a fast unsalted hash is enough: nobody can
// brute-force the preimage, and the lookup by hash needs no per-row salt.
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function displayPrefix(key: string): string {
  return key.slice(0, 10);
}

export function looksLikeApiKey(token: string): boolean {
  return token.startsWith(API_KEY_PREFIX);
}
