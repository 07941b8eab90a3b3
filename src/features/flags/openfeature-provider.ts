import { randomUUID } from 'node:crypto';
import {
  ErrorCode,
  NOOP_PROVIDER,
  OpenFeature,
  type Client,
  type EvaluationContext,
  type FlagMetadata,
  type Hook,
  type JsonValue,
  type Provider,
  type ResolutionDetails,
} from '@openfeature/server-sdk';
import type { Clock } from '../../platform/clock.js';
import type { FlagAnalytics } from './flag-analytics.js';
import type { FlagMetrics } from './flag-metrics.js';
import type { FlagSnapshot } from './flag-snapshot.js';
import type { FlagContext, FlagEvaluation } from './flag.types.js';

// OpenFeature provider over the in-memory snapshot: the engine's reasons are
// already OpenFeature's standard reasons, so they pass through unchanged.
// boolean → enabled; string → the experiment variant (default when none).

const RESERVED = new Set(['targetingKey', 'userId', 'tier', 'roles', 'attributes']);

// targetingKey (or userId) → userId; `roles` as array or "a,b"; other primitive
// fields (and a nested `attributes` object) become string attributes for rules.
export function toFlagContext(ctx: EvaluationContext): FlagContext {
  const userId = typeof ctx.targetingKey === 'string' ? ctx.targetingKey : typeof ctx.userId === 'string' ? ctx.userId : '';
  const tier = typeof ctx.tier === 'string' ? ctx.tier : '';
  const rawRoles = ctx.roles;
  const roles = Array.isArray(rawRoles)
    ? rawRoles.filter((r): r is string => typeof r === 'string')
    : typeof rawRoles === 'string'
      ? rawRoles.split(',').map((r) => r.trim()).filter((r) => r !== '')
      : [];
  let attributes: Record<string, string> | undefined;
  const add = (k: string, v: unknown): void => {
    const s = attributeText(v);
    if (s === undefined) return;
    attributes ??= Object.create(null) as Record<string, string>;
    attributes[k] = s;
  };
  const nested = ctx.attributes;
  if (nested && typeof nested === 'object' && !Array.isArray(nested) && !(nested instanceof Date)) {
    for (const [k, v] of Object.entries(nested)) add(k, v);
  }
  for (const k of Object.keys(ctx)) if (!RESERVED.has(k)) add(k, ctx[k]);
  return attributes ? { userId, tier, roles, attributes } : { userId, tier, roles };
}

function attributeText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v instanceof Date) return v.toISOString();
  return undefined;
}

// Plain flags report 'on'/'off' as their variant so analytics can split by it.
export function variantOf(e: FlagEvaluation): string {
  return e.variant ?? (e.enabled ? 'on' : 'off');
}

export class SnapshotFlagProvider implements Provider {
  readonly metadata = { name: 'tutorgate-flag-snapshot' } as const;
  readonly runsOn = 'server' as const;
  readonly hooks: Hook[] = [];

  constructor(
    private readonly snapshot: FlagSnapshot,
    private readonly clock?: Clock,
  ) {}

  async resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext): Promise<ResolutionDetails<boolean>> {
    return this.resolve(flagKey, defaultValue, context, (e) => e.enabled);
  }

  async resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext): Promise<ResolutionDetails<string>> {
    return this.resolve(flagKey, defaultValue, context, (e) => e.variant ?? defaultValue);
  }

  async resolveNumberEvaluation(flagKey: string, defaultValue: number): Promise<ResolutionDetails<number>> {
    return mismatch(flagKey, defaultValue, 'number');
  }

  async resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T): Promise<ResolutionDetails<T>> {
    return mismatch(flagKey, defaultValue, 'object');
  }

  private resolve<T>(flagKey: string, defaultValue: T, context: EvaluationContext, valueOf: (e: FlagEvaluation) => T): ResolutionDetails<T> {
    const ctx = toFlagContext(context);
    const e = this.snapshot.evaluate(flagKey, ctx, this.clock?.now());
    if (!e) {
      return { value: defaultValue, reason: 'ERROR', errorCode: ErrorCode.FLAG_NOT_FOUND, errorMessage: `unknown flag "${flagKey}"` };
    }
    const def = this.snapshot.get(flagKey);
    const flagMetadata: FlagMetadata = { enabled: e.enabled, rolloutInForce: e.rolloutInForce, bucket: e.bucket };
    if (def?.version !== undefined) flagMetadata.version = def.version;
    if (def?.updatedAt !== undefined) flagMetadata.updatedAt = def.updatedAt;
    if (e.reason === 'ERROR') {
      return {
        value: defaultValue,
        reason: 'ERROR',
        // The engine errs either for want of a user id or on a broken definition.
        errorCode: ctx.userId ? ErrorCode.PARSE_ERROR : ErrorCode.TARGETING_KEY_MISSING,
        errorMessage: e.errorMessage ?? 'flag evaluation failed',
        flagMetadata,
      };
    }
    return { value: valueOf(e), variant: variantOf(e), reason: e.reason, flagMetadata };
  }
}

function mismatch<T>(flagKey: string, defaultValue: T, kind: string): ResolutionDetails<T> {
  return {
    value: defaultValue,
    reason: 'ERROR',
    errorCode: ErrorCode.TYPE_MISMATCH,
    errorMessage: `flag "${flagKey}" is boolean/string, not ${kind}`,
  };
}

// Counts every evaluation (finally runs on success and error alike) and feeds
// the optional Prometheus counter. Unknown flag keys are labelled '(unknown)' in
// Prometheus so a typo in a caller cannot grow label cardinality without bound.
export function createFlagAnalyticsHook(opts: { analytics?: FlagAnalytics; metrics?: FlagMetrics }): Hook {
  return {
    finally(hookContext, details) {
      const variant = details.variant ?? 'none';
      const reason = details.reason ?? 'UNKNOWN';
      const exposed = !details.errorCode && details.flagMetadata.enabled === true;
      opts.analytics?.record({ flag: hookContext.flagKey, variant, reason, exposed });
      const flagLabel = details.errorCode === ErrorCode.FLAG_NOT_FOUND ? '(unknown)' : hookContext.flagKey;
      opts.metrics?.evaluations.inc({ flag: flagLabel, variant, reason });
    },
  };
}

export interface FlagClientHandle {
  client: Client;
  provider: SnapshotFlagProvider;
  domain: string;
  // Unbinds the domain (back to the no-op provider).
  close(): Promise<void>;
}

// Binds a provider to its own OpenFeature domain so several snapshots (tests,
// or two apps in one process) never fight over the global default provider.
export async function createFlagClient(
  snapshot: FlagSnapshot,
  opts: { domain?: string; analytics?: FlagAnalytics; metrics?: FlagMetrics; clock?: Clock } = {},
): Promise<FlagClientHandle> {
  const domain = opts.domain ?? `tutorgate-flags-${randomUUID()}`;
  const provider = new SnapshotFlagProvider(snapshot, opts.clock);
  await OpenFeature.setProviderAndWait(domain, provider);
  const client = OpenFeature.getClient(domain);
  if (opts.analytics || opts.metrics) client.addHooks(createFlagAnalyticsHook(opts));
  return {
    client,
    provider,
    domain,
    close: () => OpenFeature.setProviderAndWait(domain, NOOP_PROVIDER),
  };
}
