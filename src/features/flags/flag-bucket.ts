// Sticky bucketing. MurmurHash3 (x86, 32-bit) over the UTF-8 bytes of
// `${flagKey}:${userId}`: a published, well-mixed hash, so another service (or a
// SQL/analytics job) can reproduce exactly which users a rollout covers.

// Reused across calls so hashing does not allocate on the hot path; evaluation is
// synchronous, so there is no interleaving to worry about.
let scratch = new Uint8Array(512);

// Hand-rolled UTF-8 (a native TextEncoder call costs more than the hash itself
// on short keys). Lone surrogates become U+FFFD, as TextEncoder does.
export function utf8Into(text: string, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      b[n++] = c;
    } else if (c < 0x800) {
      b[n++] = 0xc0 | (c >> 6);
      b[n++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
          b[n++] = 0xf0 | (c >> 18);
          b[n++] = 0x80 | ((c >> 12) & 0x3f);
          b[n++] = 0x80 | ((c >> 6) & 0x3f);
          b[n++] = 0x80 | (c & 0x3f);
          continue;
        }
        c = 0xfffd;
      }
      b[n++] = 0xe0 | (c >> 12);
      b[n++] = 0x80 | ((c >> 6) & 0x3f);
      b[n++] = 0x80 | (c & 0x3f);
    }
  }
  return n;
}

export function murmur3_32(text: string, seed = 0): number {
  if (text.length * 3 > scratch.length) scratch = new Uint8Array(text.length * 3);
  const b = scratch;
  const len = utf8Into(text, b);
  let h = seed >>> 0;
  const tail = len & ~3;
  let i = 0;
  for (; i < tail; i += 4) {
    let k = b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  switch (len & 3) {
    case 3:
      k ^= b[i + 2]! << 16;
    // falls through
    case 2:
      k ^= b[i + 1]! << 8;
    // falls through
    case 1:
      k ^= b[i]!;
      k = Math.imul(k, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, 0x1b873593);
      h ^= k;
  }
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export const BUCKETS = 10_000;

// 0..9999. A user is in a rollout of p% when bucket < p * 100, so raising p only
// ever adds users. The flag key is part of the input so that two flags at 10%
// do not hit the same 10% of users.
export function bucketOf(flagKey: string, userId: string): number {
  return murmur3_32(`${flagKey}:${userId}`) % BUCKETS;
}

// A different seed gives a point independent of the rollout bucket: if variants
// reused the bucket, a 50% rollout of a 50/50 experiment would put every
// enrolled user in the first variant.
const VARIANT_SEED = 0x5bd1e995;

// [0, 1), sticky per flag and user.
export function variantPoint(flagKey: string, userId: string): number {
  return murmur3_32(`${flagKey}:${userId}`, VARIANT_SEED) / 0x1_0000_0000;
}
