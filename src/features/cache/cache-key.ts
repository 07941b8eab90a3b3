import { createHash } from 'node:crypto';
import { userHash } from '../../platform/pseudonym.js';

export interface CacheKeyInput {
  feature: string; // 'grading' | 'learning_path'
  /** shared: identical inputs give identical output for anyone; user: personal, never served to another user. */
  scope: 'shared' | 'user';
  /** Required when scope === 'user'. If user ids are only unique per tenant, pass a tenant-qualified id. */
  userId?: string;
  template: { id: string; version: number };
  model: string;
  /** The inputs that decide the output; canonicalised then hashed. */
  inputs: unknown;
  /** Purge handles, e.g. ['rubric:r1', 'feature:grading', 'catalog:v3']. Also hashed into the key, see below. */
  tags: string[];
}

// The feature is a plain key segment, so it must not be able to forge another segment.
const SEGMENT = /^[a-z0-9_-]{1,64}$/;

/**
 * 'tg:c:<feature>:<scope>[:<userHash>]:<sha256 of canonical JSON>'.
 *
 * The hash covers everything that can change the answer (template id+version, model, inputs)
 * plus the sorted tags: tags name versions (rubric:r1@3, catalog:v3), so a version a caller
 * only put in the tags still rotates the key. For user scope the raw user id is hashed in as
 * well as shown as userHash, so two users can never share a key even if the short userHash
 * collided; userHash is there so one user's entries can be found (e.g. for erasure) without
 * storing the id itself in Redis.
 */
export function cacheKey(input: CacheKeyInput): string {
  if (!SEGMENT.test(input.feature)) throw new TypeError(`cacheKey: invalid feature "${input.feature}"`);
  if (input.scope !== 'shared' && input.scope !== 'user') throw new TypeError(`cacheKey: invalid scope "${String(input.scope)}"`);
  if (!input.template?.id || !Number.isInteger(input.template.version)) {
    throw new TypeError('cacheKey: template needs an id and an integer version');
  }
  if (!input.model) throw new TypeError('cacheKey: model is required');
  let userPart = '';
  let user: string | null = null;
  if (input.scope === 'user') {
    if (typeof input.userId !== 'string' || input.userId === '') {
      throw new TypeError('cacheKey: userId is required for scope "user"');
    }
    user = input.userId;
    userPart = `:${userHash(user)}`;
  }
  // A userId on a shared entry is ignored on purpose: including it would silently stop sharing.
  const material = canonicalJson({
    feature: input.feature,
    scope: input.scope,
    user,
    template: { id: input.template.id, version: input.template.version },
    model: input.model,
    inputs: input.inputs,
    tags: [...new Set(input.tags.map(normaliseString))].sort(),
  });
  const digest = createHash('sha256').update(material).digest('hex');
  return `tg:c:${input.feature}:${input.scope}${userPart}:${digest}`;
}

/**
 * The tag that marks one user's entries. Tags become Redis key names, which hold no raw user
 * ids (see the key layout above), so the tag names the user by hash. `storedTag` maps a tag as
 * an operator writes it (`user:<id>`) to the stored one, so purging by user id still works.
 */
export function userTag(userId: string): string {
  return `user:${userHash(userId)}`;
}

export function storedTag(tag: string): string {
  return tag.startsWith('user:') ? userTag(tag.slice('user:'.length)) : tag;
}

/**
 * The tags a purge of `tag` must drop: for a user, the hashed tag and, for entries written
 * before the tags were hashed (session 13; learning paths live an hour), the raw one.
 */
export function purgeTags(tags: readonly string[]): string[] {
  return [...new Set(tags.flatMap((t) => (t.startsWith('user:') ? [storedTag(t), t] : [t])))];
}

/** Trim, collapse whitespace runs to one space, Unicode NFC: the same answer typed twice must hash once. */
export function normaliseString(s: string): string {
  return CANONICAL_ASCII.test(s) ? s : s.normalize('NFC').replace(/\s+/gu, ' ').trim();
}

// Printable ASCII words separated by single spaces are already all three (ASCII is NFC),
// which one linear scan tells; most answers and every id are, and skipping the
// normalisation and the whitespace pass takes a grading key from ~25–33 to ~14–23 µs p50
// (bench/cache.bench.ts, benchmarks.md finding 20).
const CANONICAL_ASCII = /^(?:[\x21-\x7e]+(?: [\x21-\x7e]+)*)?$/;
const ASCII = /^[\x00-\x7f]*$/;
const nfc = (k: string) => (ASCII.test(k) ? k : k.normalize('NFC'));

/**
 * Deterministic JSON: object keys sorted (after NFC), strings normalised, -0 as 0.
 * Values JSON would silently mangle (Map/Set become {}, NaN becomes null) are rejected,
 * because two different inputs mapping to one key would serve a wrong cached answer.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonicalise(value, new Set()));
}

function canonicalise(value: unknown, seen: Set<object>): unknown {
  if (value === null) return null;
  switch (typeof value) {
    case 'string':
      return normaliseString(value);
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: non-finite number ${value}`);
      return Object.is(value, -0) ? 0 : value;
    case 'object':
      break;
    default:
      throw new TypeError(`canonicalJson: cannot canonicalise a ${typeof value}`);
  }
  const obj = value as object;
  if (seen.has(obj)) throw new TypeError('canonicalJson: circular structure');
  if (obj instanceof Map || obj instanceof Set) throw new TypeError('canonicalJson: Map/Set are not supported; convert to arrays');
  if (typeof (obj as { toJSON?: unknown }).toJSON === 'function') {
    return canonicalise((obj as { toJSON(): unknown }).toJSON(), seen);
  }
  seen.add(obj);
  try {
    if (Array.isArray(obj)) return obj.map((v) => (v === undefined ? null : canonicalise(v, seen)));
    const entries: [string, unknown][] = [];
    for (const [k, v] of Object.entries(obj)) if (v !== undefined) entries.push([nfc(k), v]);
    // Two keys that differ only in composition ("é" and "e" + U+0301, e.g. ids in an inline
    // rubric) are two keys, not an error (a 500 for a valid request): such an object keeps
    // its keys as they are. No other object canonicalises to it, since only it has a key
    // that NFC would change.
    return sortedObject(entries, seen) ?? sortedObject(Object.entries(obj).filter(([, v]) => v !== undefined), seen)!;
  } finally {
    seen.delete(obj);
  }
}

// undefined when two keys are equal (after NFC): sorted, they are next to each other.
function sortedObject(entries: [string, unknown][], seen: Set<object>): Record<string, unknown> | undefined {
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  // Null prototype so an input key named "__proto__" is data, not a prototype swap.
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of entries) {
    if (Object.hasOwn(out, k)) return undefined;
    out[k] = canonicalise(v, seen);
  }
  return out;
}
