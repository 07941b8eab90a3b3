import { systemClock, type Clock } from '../../platform/clock.js';
import { compileFlag, evaluateCompiled, type CompiledFlag } from './flag-evaluator.js';
import type { FlagContext, FlagDefinition, FlagEvaluation } from './flag.types.js';

// The in-memory view every request reads: defaults from the policy file, overlaid
// key by key by the overrides stored by admins. Reads never touch I/O; FlagSync
// swaps the overrides in when the store changes.
export class FlagSnapshot {
  private readonly clock: Clock;
  private defaults = new Map<string, FlagDefinition>();
  private overrides = new Map<string, FlagDefinition>();
  private compiled = new Map<string, CompiledFlag>();
  private fingerprint: string | undefined;

  constructor(opts: { defaults?: FlagDefinition[]; overrides?: FlagDefinition[]; clock?: Clock } = {}) {
    this.clock = opts.clock ?? systemClock;
    this.apply(
      new Map((opts.defaults ?? []).map((d) => [d.key, d])),
      new Map((opts.overrides ?? []).map((d) => [d.key, d])),
    );
  }

  // Unknown flag → undefined, so callers (and the OpenFeature provider) can tell
  // "off" from "does not exist".
  evaluate(key: string, ctx: FlagContext, now: number = this.clock.now()): FlagEvaluation | undefined {
    const flag = this.compiled.get(key);
    return flag ? evaluateCompiled(flag, ctx, now) : undefined;
  }

  // Convenience for route guards: unknown flags are off.
  isEnabled(key: string, ctx: FlagContext, now?: number): boolean {
    return this.evaluate(key, ctx, now)?.enabled ?? false;
  }

  has(key: string): boolean {
    return this.compiled.has(key);
  }

  // The definition in force (override if any, else default).
  get(key: string): FlagDefinition | undefined {
    return this.compiled.get(key)?.def;
  }

  list(): FlagDefinition[] {
    return [...this.compiled.values()].map((c) => c.def).sort((a, b) => a.key.localeCompare(b.key));
  }

  // Replaces the whole set of stored overrides (what FlagSync's reload returns).
  // A key that disappears falls back to its default.
  replace(overrides: FlagDefinition[]): void {
    this.apply(this.defaults, new Map(overrides.map((d) => [d.key, d])));
  }

  upsert(def: FlagDefinition): void {
    this.apply(this.defaults, new Map(this.overrides).set(def.key, def));
  }

  // The policy-file layer; replaced when the policy is reloaded.
  setDefaults(defaults: FlagDefinition[]): void {
    this.apply(new Map(defaults.map((d) => [d.key, d])), this.overrides);
  }

  // Stable text of the overrides, so a poll can tell "store changed" from "same as
  // what we already serve" without trusting every writer to bump version/updatedAt.
  overridesFingerprint(): string {
    this.fingerprint ??= fingerprintOf([...this.overrides.values()]);
    return this.fingerprint;
  }

  private apply(defaults: Map<string, FlagDefinition>, overrides: Map<string, FlagDefinition>): void {
    // Everything is built aside and swapped at the end: if a malformed definition
    // makes compilation throw, the previous state keeps serving untouched.
    const next = new Map<string, CompiledFlag>();
    for (const [key, def] of defaults) next.set(key, compileFlag(def));
    for (const [key, def] of overrides) next.set(key, compileFlag(def));
    this.defaults = defaults;
    this.overrides = overrides;
    this.compiled = next;
    this.fingerprint = undefined;
  }
}

export function fingerprintOf(defs: readonly FlagDefinition[]): string {
  return JSON.stringify([...defs].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
}
