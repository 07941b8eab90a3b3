import { describe, expect, it, vi } from 'vitest';
import { cacheKey, type CacheKeyInput } from './cache-key.js';

// Every user gets the same short hash here: the collision cacheKey's comment says the raw
// user id (hashed into the digest) guards against. Without it, two users would share a key.
vi.mock('../../platform/pseudonym.js', () => ({ userHash: () => '0000000000000000', addressHash: () => '0000000000000000' }));

const input = (userId: string): CacheKeyInput => ({
  feature: 'learning_path',
  scope: 'user',
  userId,
  template: { id: 'path', version: 1 },
  model: 'claude-haiku-4-5',
  inputs: { history: ['a', 'b'] },
  tags: ['feature:learning_path'],
});

describe('cacheKey with colliding user hashes', () => {
  it('still gives two users two keys', () => {
    const alice = cacheKey(input('alice'));
    const bob = cacheKey(input('bob'));
    expect(alice.startsWith('tg:c:learning_path:user:0000000000000000:')).toBe(true); // the collision is in force
    expect(bob.startsWith('tg:c:learning_path:user:0000000000000000:')).toBe(true);
    expect(alice).not.toBe(bob);
    expect(cacheKey(input('alice'))).toBe(alice);
  });
});
