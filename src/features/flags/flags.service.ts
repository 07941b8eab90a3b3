import type { Clock } from '../../platform/clock.js';
import { NotFoundError, ValidationError } from '../../platform/errors.js';
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

export type FlagPatch = Partial<Omit<FlagDefinition, 'key' | 'version' | 'updatedAt'>>;

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

  // A change is stored with its audit entry, then every instance reloads (pub/sub,
  // with polling as the fallback), so a kill switch takes effect everywhere within a second.
  async update(key: string, patch: FlagPatch, actor: string): Promise<FlagDefinition> {
    const before = this.snapshot.get(key) ?? null;
    const next = { ...(before ?? { key, enabled: false, rollout: 0 }), ...patch, key };
    delete next.version;
    delete next.updatedAt;
    const parsed = flagDefinitionSchema.safeParse(next);
    if (!parsed.success) {
      const errors = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
      throw new ValidationError(`Invalid flag: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, errors);
    }
    const stored = await this.repo.put(parsed.data as FlagDefinition, before, actor, this.clock.now());
    this.snapshot.upsert(stored);
    await this.sync.notifyChanged();
    return stored;
  }

  evaluate(key: string, ctx: FlagContext): FlagEvaluation {
    const e = this.snapshot.evaluate(key, ctx);
    if (!e) throw new NotFoundError('Flag');
    return e;
  }

  audit(key: string): Promise<FlagAuditEntry[]> {
    return this.repo.audit(key);
  }
}
