import { createHash } from 'node:crypto';

// Redis key names are read by whoever can list keys (an operator, a monitoring tool, a
// backup): they must name people by a hash, never by a user id (often an e-mail) or an IP
// address. This is pseudonymisation against reading key listings, not against someone set
// on reversing it: an unsalted hash of a known id or of one of 2^32 IPv4 addresses can be
// recomputed. The labels keep the two kinds apart; the output is stable across instances
// and releases, because entries and counters are found by it.

// Every premium request hashed its user (the limit key) and every authenticated one its
// address (the credential-failure gate) anew: ~2-3 µs per SHA-256 with its Hash object.
// The hashes are pure, so the last few thousand are remembered; the map starts over when
// full (no eviction order to keep up), which bounds it whatever the callers send.
const REMEMBERED = 10_000;
function remembered(hash: (s: string) => string): (s: string) => string {
  let seen = new Map<string, string>();
  return (s) => {
    let h = seen.get(s);
    if (h === undefined) {
      h = hash(s);
      if (seen.size >= REMEMBERED) seen = new Map();
      seen.set(s, h);
    }
    return h;
  };
}

/** 16 hex digits (64 bits) naming a user in Redis key names and cache tags. */
export const userHash = remembered((userId: string) => createHash('sha256').update(`tg-user\0${userId}`).digest('hex').slice(0, 16));

/** 16 hex digits naming a client address in Redis key names. */
export const addressHash = remembered((ip: string) => createHash('sha256').update(`tg-ip\0${ip}`).digest('hex').slice(0, 16));

/** The pseudonym an erased user's usage and billing rows carry (ADR 0016): stable, so totals per user of the past still add up. */
export const erasedPseudonym = (userId: string) => `erased:${userHash(userId)}`;
