import { randomBytes, randomUUID } from 'node:crypto';

// Every generated id comes from here, so the format is decided once: the prefix, then a
// UUIDv7 in 32 hex digits (RFC 9562: 48 bits of Unix milliseconds, 74 random bits).
// Ids made later sort later, so the primary-key index of a table written on every
// request (usage_ledger, evaluations) grows at its right edge: a commit dirties one leaf
// page per index instead of one random page per row (finding 22 in docs/benchmarks.md).
// The time an id reveals is the record's creation time, which the API returns anyway.
export function newId(prefix: string): string {
  const random = randomUUID().replaceAll('-', ''); // version nibble at 12, variant at 16
  return `${prefix}_${Date.now().toString(16).padStart(12, '0')}7${random.slice(13)}`;
}

export function randomToken(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}
