import { describe, expect, it } from 'vitest';
import { flagDefinitionSchema } from './flag-definition.schema.js';

const valid = {
  key: 'learning_path_experiment',
  enabled: true,
  rollout: 12.5,
  rules: [
    { attribute: 'role', op: 'in', values: ['teacher'], serve: { enabled: true } },
    { attribute: 'userId', op: 'equals', values: ['qa-1'], serve: { variant: 'graph' } },
  ],
  variants: [
    { key: 'control', weight: 1 },
    { key: 'graph', weight: 0 },
  ],
  ramp: [
    { at: '2025-06-01T00:00:00Z', rollout: 25 },
    { at: '2025-06-08T00:00:00+02:00', rollout: 100 },
  ],
  updatedAt: '2025-05-30T10:00:00.000Z',
  version: 3,
};

const issues = (input: unknown) => {
  const r = flagDefinitionSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('flagDefinitionSchema', () => {
  it('accepts a full definition', () => {
    expect(issues(valid)).toEqual([]);
    expect(issues({ key: 'grading', enabled: false, rollout: 0 })).toEqual([]);
  });

  it.each([
    ['rollout above 100', { ...valid, rollout: 101 }, 'rollout'],
    ['negative rollout', { ...valid, rollout: -1 }, 'rollout'],
    ['rollout finer than a bucket', { ...valid, rollout: 12.345 }, 'rollout'],
    ['unknown field (typo)', { ...valid, rolout: 5 }, ''],
    ['key with a colon', { ...valid, key: 'a:b' }, 'key'],
    ['negative weight', { ...valid, variants: [{ key: 'control', weight: -1 }] }, 'variants.0.weight'],
    ['weights summing to 0', { ...valid, rules: [], variants: [{ key: 'control', weight: 0 }] }, 'variants'],
    // Each finite, but their sum is Infinity: every user would land in the last variant.
    ['weights summing past the largest number', { ...valid, variants: [{ key: 'control', weight: 1e308 }, { key: 'graph', weight: 1e308 }] }, 'variants'],
    ['duplicate variant', { ...valid, variants: [{ key: 'graph', weight: 1 }, { key: 'graph', weight: 1 }] }, 'variants.1.key'],
    ['rule serving an unknown variant', { ...valid, variants: [{ key: 'control', weight: 1 }] }, 'rules.1.serve.variant'],
    ['non-ISO ramp time', { ...valid, ramp: [{ at: 'next tuesday', rollout: 5 }] }, 'ramp.0.at'],
    ['ramp time without offset', { ...valid, ramp: [{ at: '2025-06-01T00:00:00', rollout: 5 }] }, 'ramp.0.at'],
    ['duplicate ramp time', { ...valid, ramp: [{ at: '2025-06-01T00:00:00Z', rollout: 5 }, { at: '2025-06-01T02:00:00+02:00', rollout: 9 }] }, 'ramp.1.at'],
    ['equals with two values', { ...valid, rules: [{ attribute: 'tier', op: 'equals', values: ['a', 'b'], serve: { enabled: true } }] }, 'rules.0.values'],
    ['in with no values', { ...valid, rules: [{ attribute: 'tier', op: 'in', values: [], serve: { enabled: true } }] }, 'rules.0.values'],
    ['unknown op', { ...valid, rules: [{ attribute: 'tier', op: 'like', values: ['a'], serve: { enabled: true } }] }, 'rules.0.op'],
    ['serve with both shapes mixed', { ...valid, rules: [{ attribute: 'tier', op: 'in', values: ['a'], serve: { enabled: true, variant: 'graph' } }] }, 'rules.0.serve'],
    ['fractional version', { ...valid, version: 1.5 }, 'version'],
  ])('rejects %s', (_name, input, path) => {
    const found = issues(input);
    expect(found.some((i) => i.startsWith(`${path}:`))).toBe(true);
  });
});
