import { describe, expect, it } from 'vitest';
import { compileFlag, evaluateCompiled, evaluateFlag } from './flag-evaluator.js';
import type { FlagContext, FlagDefinition } from './flag.types.js';

const user = (over: Partial<FlagContext> = {}): FlagContext => ({ userId: 'u-1', tier: 'premium', roles: [], ...over });
const NOW = Date.parse('2025-06-01T12:00:00Z');

describe('kill switch', () => {
  it('beats targeting rules and a full rollout', () => {
    const def: FlagDefinition = {
      key: 'grading',
      enabled: false,
      rollout: 100,
      rules: [{ attribute: 'userId', op: 'in', values: ['u-1'], serve: { enabled: true } }],
      variants: [{ key: 'a', weight: 1 }],
    };
    const e = evaluateFlag(def, user(), NOW);
    expect(e).toMatchObject({ enabled: false, reason: 'DISABLED' });
    expect(e.variant).toBeUndefined();
  });

  it('beats a rule serving a variant', () => {
    const def: FlagDefinition = {
      key: 'exp',
      enabled: false,
      rollout: 100,
      variants: [{ key: 'treatment', weight: 1 }],
      rules: [{ attribute: 'role', op: 'in', values: ['staff'], serve: { variant: 'treatment' } }],
    };
    expect(evaluateFlag(def, user({ roles: ['staff'] }), NOW)).toMatchObject({ enabled: false, reason: 'DISABLED' });
  });
});

describe('targeting rules', () => {
  const def: FlagDefinition = {
    key: 'learning_path',
    enabled: true,
    rollout: 0,
    rules: [
      { attribute: 'userId', op: 'in', values: ['blocked-1'], serve: { enabled: false } },
      { attribute: 'role', op: 'in', values: ['teacher', 'admin'], serve: { enabled: true } },
      { attribute: 'tier', op: 'equals', values: ['school'], serve: { enabled: true } },
      { attribute: 'country', op: 'notIn', values: ['DE', 'FR'], serve: { enabled: true } },
    ],
  };
  const ev = (ctx: FlagContext) => evaluateFlag(def, ctx, NOW);

  it('serves by user list, role, tier and custom attribute', () => {
    expect(ev(user({ roles: ['teacher'] }))).toMatchObject({ enabled: true, reason: 'TARGETING_MATCH' });
    expect(ev(user({ tier: 'school' }))).toMatchObject({ enabled: true, reason: 'TARGETING_MATCH' });
    expect(ev(user({ attributes: { country: 'US' } }))).toMatchObject({ enabled: true, reason: 'TARGETING_MATCH' });
  });

  it('uses the first matching rule', () => {
    // blocked-1 is also a teacher: the earlier deny rule wins.
    expect(ev(user({ userId: 'blocked-1', roles: ['teacher'] }))).toMatchObject({ enabled: false, reason: 'TARGETING_MATCH' });
  });

  it('falls through to the rollout when nothing matches', () => {
    expect(ev(user({ attributes: { country: 'DE' } }))).toMatchObject({ enabled: false, reason: 'DEFAULT' });
  });

  it('never matches on a missing attribute, not even notIn', () => {
    expect(ev(user())).toMatchObject({ enabled: false, reason: 'DEFAULT' });
    expect(ev(user({ attributes: { country: '' } }))).toMatchObject({ enabled: false, reason: 'DEFAULT' });
  });

  it('does not read inherited properties as attributes', () => {
    const d: FlagDefinition = {
      key: 'x',
      enabled: true,
      rollout: 0,
      rules: [{ attribute: 'constructor', op: 'notIn', values: ['nope'], serve: { enabled: true } }],
    };
    expect(evaluateFlag(d, user({ attributes: {} }), NOW).enabled).toBe(false);
  });

  it('treats roles as a set: notIn matches users with none of the roles, including none at all', () => {
    const d: FlagDefinition = {
      key: 'x',
      enabled: true,
      rollout: 0,
      rules: [{ attribute: 'role', op: 'notIn', values: ['student'], serve: { enabled: true } }],
    };
    expect(evaluateFlag(d, user({ roles: [] }), NOW).enabled).toBe(true);
    expect(evaluateFlag(d, user({ roles: ['teacher'] }), NOW).enabled).toBe(true);
    expect(evaluateFlag(d, user({ roles: ['teacher', 'student'] }), NOW).enabled).toBe(false);
  });

  it('serves a pinned variant to a targeted user', () => {
    const d: FlagDefinition = {
      key: 'exp',
      enabled: true,
      rollout: 0,
      variants: [
        { key: 'control', weight: 50 },
        { key: 'treatment', weight: 50 },
      ],
      rules: [{ attribute: 'userId', op: 'in', values: ['qa-1'], serve: { variant: 'treatment' } }],
    };
    expect(evaluateFlag(d, user({ userId: 'qa-1' }), NOW)).toMatchObject({ enabled: true, variant: 'treatment', reason: 'TARGETING_MATCH' });
  });

  it('gives a rule-enabled user a weighted variant on an experiment flag', () => {
    const d: FlagDefinition = {
      key: 'exp',
      enabled: true,
      rollout: 0,
      variants: [{ key: 'only', weight: 3 }],
      rules: [{ attribute: 'tier', op: 'in', values: ['premium'], serve: { enabled: true } }],
    };
    expect(evaluateFlag(d, user(), NOW)).toMatchObject({ enabled: true, variant: 'only', reason: 'TARGETING_MATCH' });
  });
});

describe('rollout reasons', () => {
  it('reports STATIC at 100%, DEFAULT at 0% and SPLIT in between', () => {
    expect(evaluateFlag({ key: 'f', enabled: true, rollout: 100 }, user(), NOW)).toMatchObject({ enabled: true, reason: 'STATIC' });
    expect(evaluateFlag({ key: 'f', enabled: true, rollout: 0 }, user(), NOW)).toMatchObject({ enabled: false, reason: 'DEFAULT' });
    const e = evaluateFlag({ key: 'f', enabled: true, rollout: 50 }, user(), NOW);
    expect(e.reason).toBe('SPLIT');
    expect(e.enabled).toBe(e.bucket < 5000);
  });

  it('refuses to bucket a partial rollout without a user id, but still serves 0% and 100%', () => {
    const anon = user({ userId: '' });
    expect(evaluateFlag({ key: 'f', enabled: true, rollout: 50 }, anon, NOW)).toMatchObject({ enabled: false, reason: 'ERROR' });
    expect(evaluateFlag({ key: 'f', enabled: true, rollout: 100 }, anon, NOW)).toMatchObject({ enabled: true, reason: 'STATIC' });
    expect(evaluateFlag({ key: 'f', enabled: true, rollout: 0 }, anon, NOW)).toMatchObject({ enabled: false, reason: 'DEFAULT' });
  });

  it('uses the exact bucket threshold despite float noise', () => {
    // 0.07 * 100 === 7.000000000000001: bucket 7 must stay out.
    const flag = compileFlag({ key: 'f', enabled: true, rollout: 0.07 });
    let maxIn = -1;
    let minOut = 10_000;
    for (let i = 0; i < 200_000; i++) {
      const e = evaluateCompiled(flag, user({ userId: `t${i}` }), NOW);
      if (e.enabled) maxIn = Math.max(maxIn, e.bucket);
      else minOut = Math.min(minOut, e.bucket);
    }
    expect(maxIn).toBe(6);
    expect(minOut).toBe(7);
  });
});

describe('variants', () => {
  const def: FlagDefinition = {
    key: 'learning_path_experiment',
    enabled: true,
    rollout: 100,
    variants: [
      { key: 'control', weight: 50 },
      { key: 'graph', weight: 30 },
      { key: 'llm', weight: 20 },
      { key: 'parked', weight: 0 },
    ],
  };
  const flag = compileFlag(def);

  it('splits by weight within one point over 100,000 users, never serving a zero-weight variant', () => {
    const counts = new Map<string, number>();
    const reasons = new Set<string>();
    for (let i = 0; i < 100_000; i++) {
      const e = evaluateCompiled(flag, user({ userId: `user-${i}` }), NOW);
      reasons.add(e.reason);
      counts.set(e.variant!, (counts.get(e.variant!) ?? 0) + 1);
    }
    expect([...reasons]).toEqual(['SPLIT']);
    expect(counts.get('parked')).toBeUndefined();
    expect(Math.abs((counts.get('control') ?? 0) / 1000 - 50)).toBeLessThanOrEqual(1);
    expect(Math.abs((counts.get('graph') ?? 0) / 1000 - 30)).toBeLessThanOrEqual(1);
    expect(Math.abs((counts.get('llm') ?? 0) / 1000 - 20)).toBeLessThanOrEqual(1);
  });

  it('is sticky per user, and raising the rollout does not reshuffle variants', () => {
    const partial = compileFlag({ ...def, rollout: 30 });
    for (let i = 0; i < 2000; i++) {
      const ctx = user({ userId: `user-${i}` });
      const full = evaluateCompiled(flag, ctx, NOW).variant;
      expect(evaluateCompiled(flag, ctx, NOW).variant).toBe(full);
      const p = evaluateCompiled(partial, ctx, NOW);
      if (p.enabled) expect(p.variant).toBe(full);
    }
  });

  it('reports STATIC with a single live variant', () => {
    const single = evaluateFlag({ ...def, variants: [{ key: 'only', weight: 1 }] }, user(), NOW);
    expect(single).toMatchObject({ enabled: true, variant: 'only', reason: 'STATIC' });
  });

  it('errors (off) when no variant has a positive weight', () => {
    const broken = evaluateFlag({ ...def, variants: [{ key: 'a', weight: 0 }] }, user(), NOW);
    expect(broken).toMatchObject({ enabled: false, reason: 'ERROR' });
  });
});

describe('scheduled ramp', () => {
  const def: FlagDefinition = {
    key: 'grading',
    enabled: true,
    rollout: 1,
    // Deliberately out of order: the engine sorts by time.
    ramp: [
      { at: '2025-06-10T00:00:00Z', rollout: 50 },
      { at: '2025-06-01T00:00:00Z', rollout: 5 },
      { at: '2025-06-05T00:00:00+02:00', rollout: 20 },
      { at: '2025-06-20T00:00:00Z', rollout: 100 },
    ],
  };
  it.each([
    ['2025-05-31T23:59:59.999Z', 1],
    ['2025-06-01T00:00:00Z', 5],
    ['2025-06-04T21:59:59Z', 5],
    ['2025-06-04T22:00:00Z', 20],
    ['2025-06-15T00:00:00Z', 50],
    ['2026-01-01T00:00:00Z', 100],
  ])('at %s the rollout in force is %i', (at, expected) => {
    expect(evaluateFlag(def, user(), Date.parse(at)).rolloutInForce).toBe(expected);
  });

  it('decides membership with the rollout in force', () => {
    const e = evaluateFlag(def, user(), Date.parse('2026-01-01T00:00:00Z'));
    expect(e).toMatchObject({ enabled: true, reason: 'STATIC' });
  });
});
