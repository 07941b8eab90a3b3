import { bucketOf, variantPoint } from './flag-bucket.js';
import type { FlagContext, FlagDefinition, FlagEvaluation, FlagRule } from './flag.types.js';

export { bucketOf } from './flag-bucket.js';

// Definitions are compiled once (sets for value lists, parsed and sorted ramp,
// cumulative weights) so the snapshot's per-request evaluation is a map lookup,
// one or two hashes and a few comparisons. evaluateFlag compiles on every call
// and stays pure; the snapshot keeps compiled flags.

type RuleSource = 'tier' | 'role' | 'userId' | 'attribute';

interface CompiledRule {
  source: RuleSource;
  attribute: string;
  op: FlagRule['op'];
  values: ReadonlySet<string>;
  serve: FlagRule['serve'];
}

export interface CompiledFlag {
  readonly def: FlagDefinition;
  readonly key: string;
  readonly enabled: boolean;
  readonly rollout: number;
  readonly rules: readonly CompiledRule[];
  readonly variants: readonly { key: string; upTo: number }[]; // cumulative, positive weights only
  readonly variantKeys: ReadonlySet<string>;
  readonly totalWeight: number;
  readonly declaresVariants: boolean;
  readonly ramp: readonly { at: number; rollout: number }[]; // ascending by time
}

function sourceOf(attribute: string): RuleSource {
  return attribute === 'tier' || attribute === 'role' || attribute === 'userId' ? attribute : 'attribute';
}

export function compileFlag(def: FlagDefinition): CompiledFlag {
  const rules = (def.rules ?? []).map(
    (r): CompiledRule => ({
      source: sourceOf(r.attribute),
      attribute: r.attribute,
      op: r.op,
      values: new Set(r.op === 'equals' ? r.values.slice(0, 1) : r.values),
      serve: r.serve,
    }),
  );
  let total = 0;
  const variants: { key: string; upTo: number }[] = [];
  for (const v of def.variants ?? []) {
    if (!(v.weight > 0)) continue; // a zero weight parks a variant without deleting it
    total += v.weight;
    variants.push({ key: v.key, upTo: total });
  }
  const ramp = (def.ramp ?? [])
    .map((s) => ({ at: Date.parse(s.at), rollout: s.rollout }))
    .filter((s) => Number.isFinite(s.at))
    .sort((a, b) => a.at - b.at);
  return {
    def,
    key: def.key,
    enabled: def.enabled,
    rollout: def.rollout,
    rules,
    variants,
    variantKeys: new Set((def.variants ?? []).map((v) => v.key)),
    totalWeight: total,
    declaresVariants: (def.variants?.length ?? 0) > 0,
    ramp,
  };
}

export function rolloutInForceAt(flag: CompiledFlag, now: number): number {
  for (let i = flag.ramp.length - 1; i >= 0; i--) {
    const step = flag.ramp[i]!;
    if (step.at <= now) return step.rollout;
  }
  return flag.rollout;
}

export function evaluateFlag(def: FlagDefinition, ctx: FlagContext, now: number): FlagEvaluation {
  return evaluateCompiled(compileFlag(def), ctx, now);
}

export function evaluateCompiled(flag: CompiledFlag, ctx: FlagContext, now: number): FlagEvaluation {
  const rolloutInForce = rolloutInForceAt(flag, now);
  const userId = ctx.userId;
  // Without a user id there is no sticky bucket; 0 is reported but never used to decide.
  const bucket = userId ? bucketOf(flag.key, userId) : 0;

  if (!flag.enabled) return result(flag, false, 'DISABLED', rolloutInForce, bucket);

  for (const rule of flag.rules) {
    if (!ruleMatches(rule, ctx)) continue;
    const serve = rule.serve;
    if ('variant' in serve) {
      if (!flag.variantKeys.has(serve.variant)) {
        return failure(flag, rolloutInForce, bucket, `rule serves unknown variant "${serve.variant}"`);
      }
      return result(flag, true, 'TARGETING_MATCH', rolloutInForce, bucket, serve.variant);
    }
    if (!serve.enabled) return result(flag, false, 'TARGETING_MATCH', rolloutInForce, bucket);
    return served(flag, 'TARGETING_MATCH', rolloutInForce, bucket, userId);
  }

  if (rolloutInForce <= 0) return result(flag, false, 'DEFAULT', rolloutInForce, bucket);
  if (rolloutInForce >= 100) return served(flag, 'STATIC', rolloutInForce, bucket, userId); // SPLIT if variants split
  if (!userId) return failure(flag, rolloutInForce, bucket, 'a partial rollout needs a userId');
  // Rounded so float noise (0.07 * 100 = 7.000000000000001) cannot admit an extra bucket.
  const threshold = Math.round(rolloutInForce * 1e8) / 1e6;
  if (bucket < threshold) return served(flag, 'SPLIT', rolloutInForce, bucket, userId);
  return result(flag, false, 'SPLIT', rolloutInForce, bucket);
}

// Object literals rather than `{ ...base, … }`: spreading was measured at ~10x
// the cost of the whole evaluation and this runs on every request.
function result(
  flag: CompiledFlag,
  enabled: boolean,
  reason: FlagEvaluation['reason'],
  rolloutInForce: number,
  bucket: number,
  variant?: string,
): FlagEvaluation {
  return variant === undefined
    ? { key: flag.key, enabled, reason, rolloutInForce, bucket }
    : { key: flag.key, enabled, variant, reason, rolloutInForce, bucket };
}

function failure(flag: CompiledFlag, rolloutInForce: number, bucket: number, errorMessage: string): FlagEvaluation {
  return { key: flag.key, enabled: false, reason: 'ERROR', rolloutInForce, bucket, errorMessage };
}

// The user gets the flag; on an experiment flag they also get a sticky variant.
function served(
  flag: CompiledFlag,
  reason: 'TARGETING_MATCH' | 'SPLIT' | 'STATIC',
  rolloutInForce: number,
  bucket: number,
  userId: string,
): FlagEvaluation {
  if (!flag.declaresVariants) return result(flag, true, reason, rolloutInForce, bucket);
  const variants = flag.variants;
  if (variants.length === 0) return failure(flag, rolloutInForce, bucket, 'no variant has a positive weight');
  if (variants.length === 1) return result(flag, true, reason, rolloutInForce, bucket, variants[0]!.key);
  if (!userId) return failure(flag, rolloutInForce, bucket, 'a variant split needs a userId');
  const point = variantPoint(flag.key, userId) * flag.totalWeight;
  let chosen = variants[variants.length - 1]!.key; // guards against rounding at the top end
  for (const v of variants) {
    if (point < v.upTo) {
      chosen = v.key;
      break;
    }
  }
  return result(flag, true, reason === 'STATIC' ? 'SPLIT' : reason, rolloutInForce, bucket, chosen);
}

// A missing (absent or empty) attribute never matches, not even `notIn`:
// targeting acts only on what we know about the user. Roles are always known;
// an empty list means "no roles", so `notIn` matches it.
function ruleMatches(rule: CompiledRule, ctx: FlagContext): boolean {
  if (rule.source === 'role') {
    const roles = ctx.roles;
    let any = false;
    for (const r of roles) {
      if (rule.values.has(r)) {
        any = true;
        break;
      }
    }
    return rule.op === 'notIn' ? !any : any;
  }
  let value: string | undefined;
  if (rule.source === 'tier') value = ctx.tier;
  else if (rule.source === 'userId') value = ctx.userId;
  else {
    const attrs = ctx.attributes;
    // hasOwn: an attribute named "constructor" must not read Object.prototype.
    value = attrs && Object.hasOwn(attrs, rule.attribute) ? attrs[rule.attribute] : undefined;
  }
  if (typeof value !== 'string' || value === '') return false;
  const has = rule.values.has(value);
  return rule.op === 'notIn' ? !has : has;
}
