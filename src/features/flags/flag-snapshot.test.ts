import { describe, expect, it } from 'vitest';
import { FlagSnapshot } from './flag-snapshot.js';
import type { FlagContext, FlagDefinition } from './flag.types.js';

const ctx: FlagContext = { userId: 'u-1', tier: 'premium', roles: [] };
const defaults: FlagDefinition[] = [
  { key: 'grading', enabled: true, rollout: 100 },
  { key: 'learning_path', enabled: true, rollout: 0 },
];

describe('FlagSnapshot', () => {
  it('overlays stored overrides on the policy defaults, key by key', () => {
    const s = new FlagSnapshot({ defaults, overrides: [{ key: 'grading', enabled: false, rollout: 100 }] });
    expect(s.isEnabled('grading', ctx)).toBe(false);
    expect(s.evaluate('learning_path', ctx)).toMatchObject({ enabled: false, reason: 'DEFAULT' });
    expect(s.list().map((d) => d.key)).toEqual(['grading', 'learning_path']);
  });

  it('falls back to the default when replace drops an override', () => {
    const s = new FlagSnapshot({ defaults, overrides: [{ key: 'grading', enabled: false, rollout: 100 }] });
    s.replace([{ key: 'learning_path', enabled: true, rollout: 100 }]);
    expect(s.isEnabled('grading', ctx)).toBe(true);
    expect(s.isEnabled('learning_path', ctx)).toBe(true);
  });

  it('upsert changes one flag and keeps the others', () => {
    const s = new FlagSnapshot({ defaults });
    s.upsert({ key: 'learning_path', enabled: true, rollout: 100 });
    s.upsert({ key: 'new_flag', enabled: true, rollout: 100 });
    expect(s.isEnabled('learning_path', ctx)).toBe(true);
    expect(s.isEnabled('grading', ctx)).toBe(true);
    expect(s.isEnabled('new_flag', ctx)).toBe(true);
  });

  it('returns undefined for unknown flags and treats them as off', () => {
    const s = new FlagSnapshot({ defaults });
    expect(s.evaluate('nope', ctx)).toBeUndefined();
    expect(s.isEnabled('nope', ctx)).toBe(false);
  });

  it('evaluates with its clock, so ramps advance without a reload', () => {
    let now = Date.parse('2025-06-01T00:00:00Z');
    const s = new FlagSnapshot({
      clock: { now: () => now },
      overrides: [{ key: 'f', enabled: true, rollout: 0, ramp: [{ at: '2025-06-02T00:00:00Z', rollout: 100 }] }],
    });
    expect(s.isEnabled('f', ctx)).toBe(false);
    now = Date.parse('2025-06-02T00:00:00Z');
    expect(s.isEnabled('f', ctx)).toBe(true);
  });

  it('keeps serving the previous state when a malformed definition arrives', () => {
    const s = new FlagSnapshot({ defaults });
    const broken = { key: 'grading', enabled: false, rollout: 0, rules: 'oops' } as unknown as FlagDefinition;
    expect(() => s.replace([broken])).toThrow();
    expect(s.isEnabled('grading', ctx)).toBe(true);
    expect(s.overridesFingerprint()).toBe(new FlagSnapshot().overridesFingerprint());
  });

  it('fingerprints overrides independently of their order', () => {
    const a = new FlagSnapshot({ overrides: [defaults[0]!, defaults[1]!] });
    const b = new FlagSnapshot({ overrides: [defaults[1]!, defaults[0]!] });
    expect(a.overridesFingerprint()).toBe(b.overridesFingerprint());
    b.upsert({ ...defaults[0]!, rollout: 50 });
    expect(a.overridesFingerprint()).not.toBe(b.overridesFingerprint());
  });
});
