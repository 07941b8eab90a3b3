import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cacheKey, canonicalJson, normaliseString, purgeTags, userTag, type CacheKeyInput } from './cache-key.js';

const base = (over: Partial<CacheKeyInput> = {}): CacheKeyInput => ({
  feature: 'grading',
  scope: 'shared',
  template: { id: 'grade-short-answer', version: 3 },
  model: 'claude-sonnet-4-5',
  inputs: { question: 'Why is the sky blue?', answer: 'Rayleigh scattering of sunlight.', rubric: { id: 'r1', version: 2 } },
  tags: ['rubric:r1', 'feature:grading'],
  ...over,
});

describe('cacheKey', () => {
  it('has the documented shape', () => {
    expect(cacheKey(base())).toMatch(/^tg:c:grading:shared:[0-9a-f]{64}$/);
    expect(cacheKey(base({ feature: 'learning_path', scope: 'user', userId: 'u1' }))).toMatch(
      /^tg:c:learning_path:user:[0-9a-f]{16}:[0-9a-f]{64}$/,
    );
  });

  it('ignores key order, whitespace runs, and Unicode composition in inputs', () => {
    const a = cacheKey(base({ inputs: { answer: 'Café   au\tlait\n', question: 'Q', rubric: { version: 2, id: 'r1' } } }));
    const b = cacheKey(base({ inputs: { rubric: { id: 'r1', version: 2 }, question: ' Q ', answer: 'Cafe\u0301 au lait' } }));
    expect(a).toBe(b);
  });

  it('ignores tag order and duplicates', () => {
    expect(cacheKey(base({ tags: ['a', 'b', 'a'] }))).toBe(cacheKey(base({ tags: ['b', 'a'] })));
  });

  it('changes when any deciding input changes', () => {
    const k = cacheKey(base());
    const variants: Partial<CacheKeyInput>[] = [
      { inputs: { question: 'Why is the sky blue?', answer: 'Rayleigh scattering of moonlight.', rubric: { id: 'r1', version: 2 } } },
      { inputs: { question: 'Why is the sky blue?', answer: 'Rayleigh scattering of sunlight.', rubric: { id: 'r1', version: 3 } } },
      { template: { id: 'grade-short-answer', version: 4 } }, // template version bump
      { template: { id: 'grade-essay', version: 3 } },
      { model: 'claude-haiku-4-5' },
      { feature: 'learning_path' },
      { tags: ['rubric:r1', 'feature:grading', 'catalog:v4'] },
    ];
    const keys = variants.map((v) => cacheKey(base(v)));
    for (const other of keys) expect(other).not.toBe(k);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('keeps types apart: 1 vs "1", null vs missing array slot vs false', () => {
    expect(cacheKey(base({ inputs: { n: 1 } }))).not.toBe(cacheKey(base({ inputs: { n: '1' } })));
    expect(cacheKey(base({ inputs: [null] }))).not.toBe(cacheKey(base({ inputs: [false] })));
  });

  it('user scope: A never gets B’s key, and the user id itself is not in the key', () => {
    const a = cacheKey(base({ scope: 'user', userId: 'tenant1:alice' }));
    const b = cacheKey(base({ scope: 'user', userId: 'tenant1:bob' }));
    const otherTenant = cacheKey(base({ scope: 'user', userId: 'tenant2:alice' }));
    expect(new Set([a, b, otherTenant]).size).toBe(3);
    expect(a).not.toContain('alice');
    expect(a).not.toBe(cacheKey(base()));
  });

  it('user scope requires a user; shared scope ignores one so sharing is not silently lost', () => {
    expect(() => cacheKey(base({ scope: 'user' }))).toThrow(/userId/);
    expect(() => cacheKey(base({ scope: 'user', userId: '' }))).toThrow(/userId/);
    expect(cacheKey(base({ userId: 'alice' }))).toBe(cacheKey(base({ userId: 'bob' })));
  });

  it('rejects a feature that could forge key segments, and inputs JSON would collapse', () => {
    expect(() => cacheKey(base({ feature: 'grading:user' }))).toThrow(/feature/);
    expect(() => canonicalJson({ m: new Map([[1, 2]]) })).toThrow(/Map/);
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(/non-finite/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/circular/);
  });

  it('keeps two keys that differ only in Unicode composition apart, and still merges one key typed either way', () => {
    const both = { '\u00e9': 1, 'e\u0301': 2 };
    const swapped = { '\u00e9': 2, 'e\u0301': 1 };
    expect(cacheKey(base({ inputs: both }))).not.toBe(cacheKey(base({ inputs: swapped })));
    expect(cacheKey(base({ inputs: both }))).not.toBe(cacheKey(base({ inputs: { '\u00e9': 1 } })));
    expect(cacheKey(base({ inputs: { 'e\u0301': 1 } }))).toBe(cacheKey(base({ inputs: { '\u00e9': 1 } })));
  });

  it('treats a "__proto__" input key as data', () => {
    const withProto = JSON.parse('{"__proto__": {"x": 1}, "a": 1}') as unknown;
    expect(cacheKey(base({ inputs: withProto }))).not.toBe(cacheKey(base({ inputs: { a: 1 } })));
  });

  it('property: shuffling object keys never changes the key', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.integer(), (obj, seed) => {
        const entries = Object.entries(obj);
        const shuffled = Object.fromEntries(entries.map((e, i) => [i, e] as const).sort((x, y) => ((x[0] * 7919 + seed) % 13) - ((y[0] * 7919 + seed) % 13)).map(([, e]) => e));
        return canonicalJson(obj) === canonicalJson(shuffled);
      }),
    );
  });

  // normaliseString skips the work for strings that are already canonical ASCII; the
  // result must be exactly what the full normalisation gives, for any string.
  it('property: the ASCII shortcut never changes what a string normalises to', () => {
    const full = (x: string) => x.normalize('NFC').replace(/\s+/gu, ' ').trim();
    const piece = fc.oneof(fc.string(), fc.constantFrom(' ', '  ', '\t', '\n', '\u00a0', 'e\u0301', '\u00e9', 'A', 'z', '~', '!'));
    fc.assert(fc.property(fc.array(piece, { maxLength: 12 }), (parts) => normaliseString(parts.join('')) === full(parts.join(''))), { numRuns: 2000 });
    for (const x of ['', 'plain words here', ' leading', 'trailing ', 'two  spaces', 'tab\there', 'cafe\u0301', 'non\u00a0breaking']) expect(normaliseString(x)).toBe(full(x));
  });
});

describe('purgeTags', () => {
  it('purges a user by the hashed tag and by the raw one older entries carry, and leaves other tags alone', () => {
    expect(purgeTags(['user:jane@school.example', 'rubric:demo', 'rubric:demo'])).toEqual([userTag('jane@school.example'), 'user:jane@school.example', 'rubric:demo']);
    expect(userTag('jane@school.example')).toMatch(/^user:[0-9a-f]{16}$/);
  });
});
