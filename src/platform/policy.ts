import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { parseDuration } from './duration.js';
import { DEFAULT_POLICY } from './policy-defaults.js';
import { policySchema, type ParsedPolicy, type PolicyFile } from './policy.schema.js';

export type Policy = Readonly<ParsedPolicy>;

export class PolicyError extends Error {}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Key by key at every depth: a file that sets `limits.premium.requestsPerMinute` keeps the
// default premium `tokensPerDay` and `concurrent` (and `limits.free`); one that sets
// `budgets.perUserMonthlyUsd.free` keeps the premium monthly budget. `null` removes a
// default (`budgets: { perUserMonthlyUsd: { premium: null } }`: no monthly cap for premium).
// Lists are replaced whole, except prices, which accumulate (the newest effective date wins later).
// (The merge went one level deep before: a tier's block replaced the default block, and a
// file that set one premium limit silently dropped the premium token and concurrency caps.)
function merge(base: Record<string, unknown>, over: Record<string, unknown>, top = true): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    // `null` removes the default: the only way to say "no cap here" once maps merge key by key.
    if (v === null) delete out[k];
    else if (top && k === 'prices' && Array.isArray(v) && Array.isArray(base[k])) out[k] = [...(base[k] as unknown[]), ...v];
    else if (isRecord(v) && isRecord(base[k])) out[k] = merge(base[k] as Record<string, unknown>, v, false);
    else out[k] = v;
  }
  return out;
}

// `shift` maps a path of the merged policy back to the file: the file's prices come after
// the built-in ones in the merged list, so its prices.0 is prices.<built-in count> there
// (an operator was sent to a prices.5 the file does not have).
function describe(issues: z.core.$ZodIssue[], shift: (path: PropertyKey[]) => PropertyKey[]): string {
  return issues.map((i) => `${shift(i.path).map(String).join('.') || '(root)'}: ${i.message}`).join('; ');
}

export function parsePolicy(raw: unknown, source = 'policy'): Policy {
  if (raw !== undefined && raw !== null && !isRecord(raw)) throw new PolicyError(`${source}: the policy must be a YAML mapping`);
  const merged = merge(DEFAULT_POLICY as Record<string, unknown>, (raw ?? {}) as Record<string, unknown>);
  const result = policySchema.safeParse(merged);
  if (!result.success) {
    const builtInPrices = isRecord(raw) && Array.isArray(raw['prices']) ? (DEFAULT_POLICY.prices ?? []).length : 0;
    const shift = (path: PropertyKey[]) =>
      path[0] === 'prices' && typeof path[1] === 'number' && path[1] >= builtInPrices ? ['prices', path[1] - builtInPrices, ...path.slice(2)] : path;
    throw new PolicyError(`${source}: ${describe(result.error.issues, shift)}`);
  }
  const policy = result.data;
  // A cached grade holds quotes of the answer (its evidence): kept longer than the answer
  // itself, it would outlive the retention period the operator set for answers.
  const gradeTtl = policy.cache.grading?.ttl;
  const answersKept = policy.retention?.evaluations;
  if (gradeTtl && answersKept && parseDuration(gradeTtl)! > parseDuration(answersKept)!) {
    throw new PolicyError(`${source}: cache.grading.ttl: ${gradeTtl} is longer than retention.evaluations (${answersKept}); cached grades quote the answers, so they must not outlive them`);
  }
  for (const [feature, model] of Object.entries(policy.models)) {
    if (!policy.prices.some((p) => p.model === model)) {
      throw new PolicyError(`${source}: models.${feature}: model "${model}" has no price in prices (a model is never free)`);
    }
  }
  return deepFreeze(policy);
}

export function loadPolicy(path: string | undefined): Policy {
  if (!path) return parsePolicy(undefined, 'built-in policy');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PolicyError(`${path}: cannot read the policy file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new PolicyError(`${path}: invalid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  return parsePolicy(raw as PolicyFile, path);
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
