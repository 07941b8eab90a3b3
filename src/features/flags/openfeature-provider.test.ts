import fc from 'fast-check';
import { ErrorCode, type EvaluationContext } from '@openfeature/server-sdk';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { FlagAnalytics } from './flag-analytics.js';
import { registerFlagMetrics } from './flag-metrics.js';
import { FlagSnapshot } from './flag-snapshot.js';
import { createFlagClient, toFlagContext, type FlagClientHandle } from './openfeature-provider.js';
import type { FlagContext, FlagDefinition, FlagRule } from './flag.types.js';

const NOW = Date.parse('2025-06-05T00:00:00Z');
const clock = { now: () => NOW };

const handles: FlagClientHandle[] = [];
afterEach(async () => {
  while (handles.length) await handles.pop()!.close();
});
async function clientFor(snapshot: FlagSnapshot, opts: Parameters<typeof createFlagClient>[1] = {}) {
  const h = await createFlagClient(snapshot, { clock, ...opts });
  handles.push(h);
  return h.client;
}

const toEvalContext = (c: FlagContext): EvaluationContext => ({ ...c.attributes, targetingKey: c.userId, tier: c.tier, roles: c.roles });

// Small pools so random rules actually match random users.
const tiers = ['free', 'premium', 'school', ''];
const roleNames = ['student', 'teacher', 'admin'];
const userIds = fc.oneof(fc.constantFrom('u-1', 'u-2', 'qa-1', ''), fc.string({ minLength: 1, maxLength: 12 }));
const contextArb: fc.Arbitrary<FlagContext> = fc.record({
  userId: userIds,
  tier: fc.constantFrom(...tiers),
  roles: fc.subarray(roleNames),
  attributes: fc.dictionary(fc.constantFrom('country', 'locale', 'grade'), fc.constantFrom('DE', 'US', 'en', '7', '')),
});
const percentArb = fc.oneof(fc.constantFrom(0, 100), fc.integer({ min: 0, max: 10_000 }).map((n) => n / 100));
const variantKeys = ['control', 'graph', 'llm'];
const defArb = (key: string): fc.Arbitrary<FlagDefinition> =>
  fc
    .record(
      {
        enabled: fc.boolean(),
        rollout: percentArb,
        variants: fc.uniqueArray(fc.record({ key: fc.constantFrom(...variantKeys), weight: fc.integer({ min: 0, max: 5 }) }), {
          selector: (v) => v.key,
          minLength: 1,
        }),
        rules: fc.array(
          fc.record({
            attribute: fc.constantFrom('tier', 'role', 'userId', 'country', 'grade'),
            op: fc.constantFrom<FlagRule['op']>('in', 'notIn', 'equals'),
            values: fc.subarray(['free', 'premium', 'teacher', 'admin', 'u-1', 'qa-1', 'DE', '7'], { minLength: 1 }),
            serve: fc.oneof(fc.record({ enabled: fc.boolean() }), fc.record({ variant: fc.constantFrom(...variantKeys) })),
          }),
          { maxLength: 3 },
        ),
        ramp: fc.array(fc.record({ at: fc.constantFrom('2025-06-01T00:00:00Z', '2025-06-10T00:00:00Z'), rollout: percentArb }), { maxLength: 2 }),
      },
      { requiredKeys: ['enabled', 'rollout'] },
    )
    .map((d) => ({ key, ...d }));

describe('SnapshotFlagProvider', () => {
  it('gives the same enabled/variant/reason as the snapshot for random flags and users', async () => {
    const snapshot = new FlagSnapshot({ clock });
    const client = await clientFor(snapshot);
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(defArb('f'), contextArb, async (def, ctx) => {
        snapshot.replace([def]);
        const expected = snapshot.evaluate('f', ctx)!;
        seen.add(expected.reason);
        const bool = await client.getBooleanDetails('f', false, toEvalContext(ctx));
        const str = await client.getStringDetails('f', 'fallback', toEvalContext(ctx));
        expect(bool.reason).toBe(expected.reason);
        expect(str.reason).toBe(expected.reason);
        if (expected.reason === 'ERROR') {
          expect(bool.value).toBe(false);
          expect(str.value).toBe('fallback');
          expect(bool.errorCode).toBe(ctx.userId ? ErrorCode.PARSE_ERROR : ErrorCode.TARGETING_KEY_MISSING);
          return;
        }
        expect(bool.value).toBe(expected.enabled);
        expect(bool.variant).toBe(expected.variant ?? (expected.enabled ? 'on' : 'off'));
        expect(str.value).toBe(expected.variant ?? 'fallback');
        expect(bool.flagMetadata).toMatchObject({ enabled: expected.enabled, bucket: expected.bucket, rolloutInForce: expected.rolloutInForce });
      }),
      { numRuns: 400 },
    );
    // Guards the generators: every branch of the engine was compared at least once.
    expect([...seen].sort()).toEqual(['DEFAULT', 'DISABLED', 'ERROR', 'SPLIT', 'STATIC', 'TARGETING_MATCH']);
  });

  it('returns the default with FLAG_NOT_FOUND for an unknown flag', async () => {
    const client = await clientFor(new FlagSnapshot());
    const d = await client.getBooleanDetails('nope', true, { targetingKey: 'u-1' });
    expect(d).toMatchObject({ value: true, reason: 'ERROR', errorCode: ErrorCode.FLAG_NOT_FOUND });
  });

  it('rejects number and object evaluations as a type mismatch', async () => {
    const client = await clientFor(new FlagSnapshot({ defaults: [{ key: 'f', enabled: true, rollout: 100 }] }));
    expect(await client.getNumberDetails('f', 7)).toMatchObject({ value: 7, errorCode: ErrorCode.TYPE_MISMATCH });
    expect(await client.getObjectDetails('f', { a: 1 })).toMatchObject({ value: { a: 1 }, errorCode: ErrorCode.TYPE_MISMATCH });
  });

  it('sees snapshot changes immediately and stays isolated from other clients', async () => {
    const one = new FlagSnapshot({ defaults: [{ key: 'f', enabled: true, rollout: 100 }] });
    const two = new FlagSnapshot({ defaults: [{ key: 'f', enabled: false, rollout: 100 }] });
    const c1 = await clientFor(one);
    const c2 = await clientFor(two);
    expect(await c1.getBooleanValue('f', false, { targetingKey: 'u' })).toBe(true);
    expect(await c2.getBooleanValue('f', true, { targetingKey: 'u' })).toBe(false);
    one.upsert({ key: 'f', enabled: false, rollout: 100 });
    expect(await c1.getBooleanValue('f', true, { targetingKey: 'u' })).toBe(false);
  });
});

describe('toFlagContext', () => {
  it('maps targetingKey, tier, roles (array or comma list) and primitive attributes', () => {
    expect(toFlagContext({ targetingKey: 'u-1', tier: 'premium', roles: 'teacher, admin,', grade: 7, beta: true, nested: { x: 1 } })).toEqual({
      userId: 'u-1',
      tier: 'premium',
      roles: ['teacher', 'admin'],
      attributes: { grade: '7', beta: 'true' },
    });
    expect(toFlagContext({ userId: 'u-2', roles: ['a', 3] })).toEqual({ userId: 'u-2', tier: '', roles: ['a'] });
    expect(toFlagContext({ targetingKey: 'u', attributes: { country: 'DE' } }).attributes).toEqual({ country: 'DE' });
  });

  it('lets role rules see comma-joined roles', async () => {
    const snapshot = new FlagSnapshot({
      defaults: [{ key: 'f', enabled: true, rollout: 0, rules: [{ attribute: 'role', op: 'in', values: ['admin'], serve: { enabled: true } }] }],
    });
    const client = await clientFor(snapshot);
    expect(await client.getBooleanDetails('f', false, { targetingKey: 'u', roles: 'teacher,admin' })).toMatchObject({
      value: true,
      reason: 'TARGETING_MATCH',
    });
  });
});

describe('analytics hook', () => {
  it('counts evaluations and exposures per flag and variant, and feeds Prometheus', async () => {
    const snapshot = new FlagSnapshot({
      clock,
      defaults: [
        { key: 'grading', enabled: true, rollout: 100 },
        { key: 'kill', enabled: false, rollout: 100 },
        { key: 'exp', enabled: true, rollout: 100, variants: [{ key: 'control', weight: 1 }, { key: 'graph', weight: 1 }] },
      ],
    });
    const analytics = new FlagAnalytics({ clock });
    const registry = new Registry();
    const metrics = registerFlagMetrics(registry);
    expect(registerFlagMetrics(registry).evaluations).toBe(metrics.evaluations); // idempotent
    const client = await clientFor(snapshot, { analytics, metrics });

    for (let i = 0; i < 3; i++) await client.getBooleanValue('grading', false, { targetingKey: `u${i}` });
    await client.getBooleanValue('kill', true, { targetingKey: 'u0' });
    await client.getBooleanValue('typo', false, { targetingKey: 'u0' });
    const variants = new Map<string, number>();
    for (let i = 0; i < 20; i++) {
      const v = await client.getStringValue('exp', 'none', { targetingKey: `u${i}` });
      variants.set(v, (variants.get(v) ?? 0) + 1);
    }

    const snap = analytics.snapshot();
    expect(snap.flags.grading).toMatchObject({ evaluations: 3, exposures: 3, variants: { on: { evaluations: 3, exposures: 3 } }, reasons: { STATIC: 3 } });
    expect(snap.flags.kill).toMatchObject({ evaluations: 1, exposures: 0, variants: { off: { evaluations: 1, exposures: 0 } }, reasons: { DISABLED: 1 } });
    expect(snap.flags.typo).toMatchObject({ evaluations: 1, exposures: 0, variants: { none: { evaluations: 1, exposures: 0 } }, reasons: { ERROR: 1 } });
    expect(snap.flags.exp!.variants).toEqual({
      control: { evaluations: variants.get('control'), exposures: variants.get('control') },
      graph: { evaluations: variants.get('graph'), exposures: variants.get('graph') },
    });
    expect(snap.flags.grading!.minutes).toEqual([
      { minute: '2025-06-05T00:00:00.000Z', evaluations: 3, exposures: 3, variants: { on: { evaluations: 3, exposures: 3 } } },
    ]);

    const text = await registry.metrics();
    expect(text).toContain('tutorgate_flag_evaluations_total{flag="grading",variant="on",reason="STATIC"} 3');
    expect(text).toContain('tutorgate_flag_evaluations_total{flag="kill",variant="off",reason="DISABLED"} 1');
    expect(text).toContain('tutorgate_flag_evaluations_total{flag="(unknown)",variant="none",reason="ERROR"} 1');
    expect(text).not.toContain('flag="typo"');
  });
});
