import type { Clock } from '../../platform/clock.js';
import { AppError, NotFoundError, ValidationError } from '../../platform/errors.js';
import type { Policy } from '../../platform/policy.js';
import { flagDefinitionSchema } from './flag-definition.schema.js';
import type { FlagSnapshot } from './flag-snapshot.js';
import type { FlagSync } from './flag-sync.js';
import type { FlagAuditEntry, FlagContext, FlagDefinition, FlagEvaluation } from './flag.types.js';
import type { FlagsRepository } from './flags.repository.js';

export function policyFlagDefaults(policy: Policy): FlagDefinition[] {
  return Object.entries(policy.flags).map(([key, f]) => ({
    key,
    enabled: f.enabled,
    rollout: f.rollout,
    ...(f.rules ? { rules: f.rules } : {}),
    ...(f.variants ? { variants: f.variants } : {}),
    ...(f.ramp ? { ramp: f.ramp } : {}),
  }));
}

type Removable = 'rules' | 'variants' | 'ramp';
// A change: fields given replace the stored ones; `null` removes a list.
export type FlagPatch = Partial<Omit<FlagDefinition, 'key' | 'version' | 'updatedAt' | Removable>> & { [K in Removable]?: FlagDefinition[K] | null };

export class FlagsService {
  constructor(
    private readonly repo: FlagsRepository,
    private readonly snapshot: FlagSnapshot,
    private readonly sync: Pick<FlagSync, 'notifyChanged'>,
    private readonly clock: Clock,
  ) {}

  list(): FlagDefinition[] {
    return this.snapshot.list();
  }

  get(key: string): FlagDefinition {
    const def = this.snapshot.get(key);
    if (!def) throw new NotFoundError('Flag');
    return def;
  }

  // A change is applied to the stored flag as it is at that moment (not to this instance's
  // copy, which another instance or a concurrent request may have moved on: a kill switch
  // must never be undone by a rollout change made at the same time), stored with its audit
  // entry, then every instance reloads (pub/sub, with polling as the fallback), so a kill
  // switch takes effect everywhere within a second.
  async update(key: string, patch: FlagPatch, actor: string): Promise<FlagDefinition> {
    // A flag is declared in the policy file; a change to a misspelt key would answer 200
    // and switch nothing off.
    const known = this.snapshot.get(key);
    if (!known) throw new AppError('not_found', 404, `No flag "${key}"; the policy file declares ${this.snapshot.list().map((f) => `"${f.key}"`).join(', ')}.`);
    const stored = await this.repo.update(key, (before) => changed(before, key, patch), actor, this.clock.now(), known);
    this.snapshot.upsert(stored);
    await this.sync.notifyChanged();
    return stored;
  }

  evaluate(key: string, ctx: FlagContext): FlagEvaluation {
    const e = this.snapshot.evaluate(key, ctx);
    if (!e) throw new NotFoundError('Flag');
    return e;
  }

  // A flag the policy no longer declares keeps its history; a key that was never a flag is a 404.
  async audit(key: string): Promise<FlagAuditEntry[]> {
    const entries = await this.repo.audit(key);
    if (entries.length === 0 && !this.snapshot.get(key)) throw new NotFoundError('Flag');
    return entries;
  }
}

// The flag after `patch`. A new rollout without a new ramp ends the ramp: a ramp step
// already passed would otherwise keep overriding it (an operator's `{"rollout":10}` to
// slow a rollout down would change nothing).
function changed(before: FlagDefinition | null, key: string, patch: FlagPatch): FlagDefinition {
  const next: Record<string, unknown> = { ...(before ?? { key, enabled: false, rollout: 0 }), key };
  delete next.version;
  delete next.updatedAt;
  if (patch.rollout !== undefined && patch.ramp === undefined) delete next.ramp;
  for (const [field, value] of Object.entries(patch)) {
    if (value === null) delete next[field];
    else if (value !== undefined) next[field] = value;
  }
  const parsed = flagDefinitionSchema.safeParse(next);
  if (!parsed.success) {
    const errors = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    throw new ValidationError(`Invalid flag: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, errors);
  }
  return parsed.data as FlagDefinition;
}
