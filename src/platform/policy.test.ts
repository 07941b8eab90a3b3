import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPolicy, parsePolicy } from './policy.js';

const file = (text: string) => {
  const p = join(mkdtempSync(join(tmpdir(), 'tg-policy-')), 'policy.yaml');
  writeFileSync(p, text);
  return p;
};

describe('policy', () => {
  it('falls back to built-in defaults section by section', () => {
    const p = parsePolicy({ limits: { premium: { requestsPerMinute: 5 } } });
    expect(p.limits.premium?.requestsPerMinute).toBe(5);
    expect(p.limits.free?.requestsPerMinute).toBe(60);
    expect(p.tiers.premium?.features).toEqual(['grading', 'learning_path']);
  });

  it('merges a file into the defaults key by key at every depth, replacing lists', () => {
    const p = parsePolicy({
      limits: { premium: { requestsPerMinute: 60 } },
      budgets: { perUserMonthlyUsd: { free: 0.5 } },
      alerts: { rules: [{ name: 'errors', metric: 'errorRatio', above: 0.2 }] },
    });
    // The premium caps the file did not name stay in force: a spend guard is never dropped by accident.
    expect(p.limits.premium).toMatchObject({ requestsPerMinute: 60, requestsPerHour: 600, tokensPerDay: 200_000, concurrent: 4 });
    expect(p.limits.free).toMatchObject({ requestsPerMinute: 60, requestsPerHour: 1000 });
    expect(p.budgets.perUserMonthlyUsd).toEqual({ premium: 5, free: 0.5 });
    expect(p.alerts.rules.map((r) => r.name)).toEqual(['errors']);
  });

  it('removes a default the file sets to null, so a cap can still be lifted', () => {
    const p = parsePolicy({ budgets: { perUserMonthlyUsd: { premium: null }, globalDailyUsd: null }, limits: { premium: { tokensPerDay: null } } });
    expect(p.budgets.perUserMonthlyUsd).toEqual({});
    expect(p.budgets.globalDailyUsd).toBeUndefined();
    expect(p.budgets.perFeatureDailyUsd).toEqual({ grading: 200, learning_path: 100 });
    expect(p.limits.premium).toEqual(expect.not.objectContaining({ tokensPerDay: expect.anything() }));
    expect(p.limits.premium?.concurrent).toBe(4);
  });

  it('is frozen', () => {
    const p = parsePolicy(undefined);
    expect(() => ((p.tiers as Record<string, unknown>).free = undefined)).toThrow();
  });

  it('names the path and field of a bad value', () => {
    const path = file('limits:\n  premium:\n    requestsPerMinute: -3\n');
    expect(() => loadPolicy(path)).toThrow(new RegExp(`${path}: limits\\.premium\\.requestsPerMinute`));
  });

  it("names a bad price by its place in the file's own list (the built-in prices come first in the merged one)", () => {
    const good = { model: 'claude-haiku-5-5', effective: '2026-06-01', input: 1, output: 5, cacheWrite5m: 1.25, cacheWrite1h: 2, cacheRead: 0.1 };
    const path = file(`prices:\n  - ${JSON.stringify(good)}\n  - ${JSON.stringify({ ...good, effective: '2026-13-01' })}\n`);
    expect(() => loadPolicy(path)).toThrow(new RegExp(`${path}: prices\\.1\\.effective: expected a date`));
  });

  it('refuses unknown keys', () => {
    expect(() => parsePolicy({ tiers: { premium: { features: ['grading'], extra: 1 } } })).toThrow(/tiers\.premium/);
    expect(() => parsePolicy({ nonsense: true })).toThrow(/nonsense|Unrecognized/);
  });

  it('refuses a latency alert the histogram cannot see crossed', () => {
    const rule = (above: number) => ({ alerts: { rules: [{ name: 'slow', metric: 'p95LatencyMs', above }] } });
    expect(() => parsePolicy(rule(120_000))).toThrow(/alerts\.rules\.0\.above.*highest bound/);
    expect(parsePolicy(rule(10_000)).alerts.rules[0]?.above).toBe(10_000);
  });

  it('refuses an alert rule with neither "above" nor "below", which could never fire', () => {
    expect(() => parsePolicy({ alerts: { rules: [{ name: 'breaker', metric: 'breakerOpen' }] } })).toThrow(/alerts\.rules\.0.*"above" or "below"/);
    expect(parsePolicy({ alerts: { rules: [{ name: 'breaker', metric: 'breakerOpen', above: 0 }] } }).alerts.rules).toHaveLength(1);
  });

  it('refuses two alert rules with one name, which the evaluator and the receiver could not tell apart', () => {
    const rules = [
      { name: 'cost', metric: 'costUsdPerHour', above: 20 },
      { name: 'cost', metric: 'costUsdPerHour', above: 50 },
    ];
    expect(() => parsePolicy({ alerts: { rules } })).toThrow(/alerts\.rules\.1\.name.*"cost".*alerts\.rules\.0/);
    expect(parsePolicy({ alerts: { rules: [rules[0], { ...rules[1], name: 'cost-critical' }] } }).alerts.rules).toHaveLength(2);
  });

  it('refuses a model without a price', () => {
    expect(() => parsePolicy({ models: { grading: 'claude-unpriced-9' } })).toThrow(/models\.grading.*no price/);
  });

  it('accepts a priced model added by the file', () => {
    const p = parsePolicy({
      models: { grading: 'claude-haiku-5-5' },
      prices: [{ model: 'claude-haiku-5-5', effective: '2026-06-01', input: 1, output: 5, cacheWrite5m: 1.25, cacheWrite1h: 2, cacheRead: 0.1 }],
    });
    expect(p.models.grading).toBe('claude-haiku-5-5');
  });

  it('keeps everything without a retention section, as before it existed', () => {
    expect(parsePolicy(undefined).retention).toBeUndefined();
    expect(parsePolicy({ limits: { premium: { requestsPerMinute: 5 } } }).retention).toBeUndefined();
  });

  it('reads retention periods like the other durations, running hourly unless told', () => {
    const p = loadPolicy(file('retention:\n  evaluations: 180d\n  progressEvents: 365d\n  recommendations: 90d\n  every: 6h\n'));
    expect(p.retention).toEqual({ evaluations: '180d', progressEvents: '365d', recommendations: '90d', every: '6h' });
    expect(parsePolicy({ retention: { evaluations: '30d' } }).retention).toEqual({ evaluations: '30d', every: '1h' });
  });

  it('refuses a grading cache that would keep answers (quoted as evidence) past their retention period', () => {
    expect(() => parsePolicy({ retention: { evaluations: '30d' }, cache: { grading: { ttl: '31d', scope: 'shared' } } })).toThrow(/cache\.grading\.ttl: 31d is longer than retention\.evaluations \(30d\)/);
    expect(parsePolicy({ retention: { evaluations: '30d' } }).cache.grading?.ttl).toBe('30d'); // the default TTL fits the shortest period
    expect(parsePolicy({ retention: { evaluations: '90d' }, cache: { grading: { ttl: '7d', scope: 'shared' } } }).retention?.evaluations).toBe('90d');
  });

  it('refuses a retention period that is not a positive duration, or shorter than what the product reads', () => {
    const refuse = (retention: Record<string, unknown>, message: RegExp) => expect(() => parsePolicy({ retention })).toThrow(message);
    refuse({ evaluations: '0d' }, /retention\.evaluations: at least 30d/);
    refuse({ evaluations: '-5d' }, /retention\.evaluations: expected a duration/);
    refuse({ evaluations: 'six months' }, /retention\.evaluations: expected a duration/);
    refuse({ evaluations: 180 }, /retention\.evaluations/);
    refuse({ evaluations: '30m' }, /retention\.evaluations: at least 30d/); // a unit slip for 30d
    refuse({ progressEvents: '59d' }, /retention\.progressEvents: at least 60d: learning paths read the last 60 days/);
    refuse({ recommendations: '29d' }, /retention\.recommendations: at least 30d/);
    refuse({ calibrationSet: '1d' }, /retention\.calibrationSet: at least 30d/);
    refuse({ userBudgets: '62d' }, /retention\.userBudgets: at least 63d: budget counters are read for the current month/);
    refuse({ evaluations: '40000d' }, /retention\.evaluations: at most 36500d/);
    refuse({ every: '10s' }, /retention\.every: at least 1m/);
    refuse({ every: '60d' }, /retention\.every: at most 30d/);
    // Only what is wrong: not also 'at least 1m' and 'at most 30d' of a value that is no duration.
    expect(() => parsePolicy({ retention: { every: 'hourly' } })).toThrow(/^policy: retention\.every: expected a duration like 30s, 15m, 1h or 30d$/);
    refuse({ answers: '90d' }, /retention.*answers|Unrecognized/);
    expect(parsePolicy({ retention: { progressEvents: '60d', every: '1m' } }).retention?.progressEvents).toBe('60d');
  });

  it('refuses a flag the admin API could not change, so its kill switch always works', () => {
    // These used to start: then `PUT /v1/admin/flags/grading {"enabled":false}` answered 422
    // (the change is validated as a whole flag) and the feature could not be switched off.
    const refuse = (flag: Record<string, unknown>, message: RegExp) => expect(() => parsePolicy({ flags: { grading: flag } })).toThrow(message);
    refuse({ enabled: true, rollout: 33.333 }, /flags\.grading\.rollout: at most two decimals/);
    refuse({ enabled: true, ramp: [{ at: '2026-12-01T00:00:00Z', rollout: 12.345 }] }, /flags\.grading\.ramp\.0\.rollout/);
    // A rule serving a variant the flag does not have: every user it matched got the flag off, reason ERROR.
    refuse({ enabled: true, rules: [{ attribute: 'tier', op: 'in', values: ['premium'], serve: { variant: 'llm' } }] }, /flags\.grading\.rules\.0\.serve\.variant: unknown variant "llm"/);
    refuse({ enabled: true, rules: [{ attribute: 'tier', op: 'equals', values: ['free', 'premium'], serve: { enabled: true } }] }, /flags\.grading\.rules\.0\.values/);
    refuse({ enabled: true, variants: [{ key: 'a', weight: 0 }] }, /flags\.grading\.variants: variant weights must sum to more than 0/);
    refuse({ enabled: true, variants: [{ key: 'a', weight: 1 }, { key: 'a', weight: 1 }] }, /flags\.grading\.variants\.1\.key: duplicate/);
    // The admin routes take keys of at most 64 characters: a longer one could never be changed.
    expect(() => parsePolicy({ flags: { ['f'.repeat(65)]: { enabled: true } } })).toThrow(/flags\.f{65}/);
    const p = parsePolicy({ flags: { grading: { enabled: true, rollout: 12.5, variants: [{ key: 'control', weight: 1 }, { key: 'llm', weight: 1 }], rules: [{ attribute: 'role', op: 'in', values: ['instructor'], serve: { variant: 'llm' } }] } } });
    expect(p.flags.grading).toMatchObject({ rollout: 12.5, variants: [{ key: 'control' }, { key: 'llm' }] });
    expect(parsePolicy({ flags: { grading: { enabled: false } } }).flags.grading?.rollout).toBe(100);
  });

  it('reports unreadable files and invalid YAML with the path', () => {
    expect(() => loadPolicy('/nonexistent/policy.yaml')).toThrow(/\/nonexistent\/policy.yaml: cannot read/);
    expect(() => loadPolicy(file('tiers: [unclosed'))).toThrow(/invalid YAML/);
  });
});
