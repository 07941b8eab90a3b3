import { createHash } from 'node:crypto';

// Redis key names are read by whoever can list keys (an operator, a monitoring tool, a
// backup): they must name people by a hash, never by a user id (often an e-mail) or an IP
// address. This is pseudonymisation against reading key listings, not against someone set
// on reversing it: an unsalted hash of a known id or of one of 2^32 IPv4 addresses can be
// recomputed. The labels keep the two kinds apart; the output is stable across instances
// and releases, because entries and counters are found by it.

/** 16 hex digits (64 bits) naming a user in Redis key names and cache tags. */
export function userHash(userId: string): string {
  return createHash('sha256').update(`tg-user\0${userId}`).digest('hex').slice(0, 16);
}

/** 16 hex digits naming a client address in Redis key names. */
export function addressHash(ip: string): string {
  return createHash('sha256').update(`tg-ip\0${ip}`).digest('hex').slice(0, 16);
}
