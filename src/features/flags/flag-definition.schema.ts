import { z } from 'zod';
import type { FlagDefinition } from './flag.types.js';

// Validates admin input before it reaches the store. Strict objects: a typo in a
// field name (e.g. "rolout") must fail loudly rather than silently do nothing.

// No ':' in keys: the bucket hashes `${key}:${userId}`, and a colon in the key
// would let two different (key, user) pairs share a bucket input.
export const flagKeySchema = z
  .string()
  .regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'lowercase letters, digits, "_", "." or "-", starting with a letter, at most 64');

// Bucket granularity is 0.01%, so finer precision would be silently ignored.
const percent = z
  .number()
  .min(0)
  .max(100)
  .refine((n) => Math.abs(n * 100 - Math.round(n * 100)) < 1e-6, 'at most two decimals (buckets are 0.01%)');

const isoTime = z.iso.datetime({ offset: true });

export const flagRuleSchema = z
  .strictObject({
    attribute: z.string().min(1).max(64),
    op: z.enum(['in', 'notIn', 'equals']),
    values: z.array(z.string().min(1).max(256)).max(10_000),
    serve: z.union([z.strictObject({ enabled: z.boolean() }), z.strictObject({ variant: z.string().min(1) })]),
  })
  .superRefine((r, ctx) => {
    if (r.op === 'equals' && r.values.length !== 1) {
      ctx.addIssue({ code: 'custom', path: ['values'], message: '"equals" takes exactly one value' });
    }
    if (r.op !== 'equals' && r.values.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['values'], message: `"${r.op}" needs at least one value` });
    }
  });

export const flagVariantSchema = z.strictObject({
  key: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
  weight: z.number().finite().min(0),
});

export const flagRampStepSchema = z.strictObject({ at: isoTime, rollout: percent });

// What an operator sets, in the policy file or through the admin API. The policy file is
// held to the same rules as a change: a flag the file may declare but the API refuses
// could not be changed at all (not even switched off), since a change is validated as
// the whole flag it makes.
const flagFields = {
  enabled: z.boolean(),
  rollout: percent,
  rules: z.array(flagRuleSchema).max(100).optional(),
  variants: z.array(flagVariantSchema).min(1).max(50).optional(),
  ramp: z.array(flagRampStepSchema).max(100).optional(),
};

type FlagFields = { rules?: FlagDefinition['rules']; variants?: FlagDefinition['variants']; ramp?: FlagDefinition['ramp'] };

function checkFlag(def: FlagFields, ctx: z.RefinementCtx): void {
  const variantKeys = new Set<string>();
  let total = 0;
  def.variants?.forEach((v, i) => {
    if (variantKeys.has(v.key)) {
      ctx.addIssue({ code: 'custom', path: ['variants', i, 'key'], message: `duplicate variant "${v.key}"` });
    }
    variantKeys.add(v.key);
    total += v.weight;
  });
  if (def.variants && !(total > 0)) {
    ctx.addIssue({ code: 'custom', path: ['variants'], message: 'variant weights must sum to more than 0' });
  }
  // Finite weights can still sum to Infinity, and then the split sends everyone to the last variant.
  if (total === Infinity) {
    ctx.addIssue({ code: 'custom', path: ['variants'], message: 'variant weights must sum to a finite number' });
  }
  def.rules?.forEach((r, i) => {
    if ('variant' in r.serve && !variantKeys.has(r.serve.variant)) {
      ctx.addIssue({
        code: 'custom',
        path: ['rules', i, 'serve', 'variant'],
        message: `unknown variant "${r.serve.variant}"`,
      });
    }
  });
  // Two steps at the same instant would make the rollout in force ambiguous.
  const times = new Set<number>();
  def.ramp?.forEach((s, i) => {
    const t = Date.parse(s.at);
    if (times.has(t)) ctx.addIssue({ code: 'custom', path: ['ramp', i, 'at'], message: 'duplicate ramp time' });
    times.add(t);
  });
}

export const flagDefinitionSchema = z
  .strictObject({
    key: flagKeySchema,
    ...flagFields,
    updatedAt: isoTime.optional(),
    version: z.number().int().min(0).optional(),
  })
  .superRefine(checkFlag);

// A flag in the policy file (`flags.<key>`): the key is the map's, the rollout defaults to 100.
export const policyFlagSchema = z.strictObject({ ...flagFields, rollout: percent.default(100) }).superRefine(checkFlag);

// Compile-time guard: whatever the schema accepts must be a FlagDefinition.
export type FlagDefinitionInput = z.infer<typeof flagDefinitionSchema>;
const _assignable = (d: FlagDefinitionInput): FlagDefinition => d;
void _assignable;
