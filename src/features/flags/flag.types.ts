// Shared shapes for the flag engine, the snapshot, the OpenFeature provider and
// the lead's repository/routes. Kept free of runtime code so any layer can import it.

export interface FlagRule {
  // 'tier', 'role' and 'userId' read the built-in context fields; any other name
  // reads ctx.attributes[name].
  attribute: 'tier' | 'role' | 'userId' | (string & {});
  op: 'in' | 'notIn' | 'equals';
  values: string[];
  serve: { enabled: boolean } | { variant: string };
}

export interface FlagVariant {
  key: string;
  weight: number;
}

export interface FlagRampStep {
  at: string; // ISO time
  rollout: number; // 0..100
}

export interface FlagDefinition {
  key: string;
  enabled: boolean; // kill switch: false means off for everyone, no exceptions
  rollout: number; // 0..100, sticky per user
  rules?: FlagRule[]; // first match wins, evaluated before the rollout
  variants?: FlagVariant[]; // experiment variants, sticky per user
  ramp?: FlagRampStep[]; // the rollout in force is the latest step whose time has passed (else `rollout`)
  updatedAt?: string;
  version?: number;
}

export interface FlagContext {
  userId: string;
  tier: string;
  roles: string[];
  attributes?: Record<string, string>;
}

export type FlagReason = 'DISABLED' | 'TARGETING_MATCH' | 'SPLIT' | 'DEFAULT' | 'STATIC' | 'ERROR';

export interface FlagEvaluation {
  key: string;
  enabled: boolean;
  variant?: string;
  reason: FlagReason;
  rolloutInForce: number;
  bucket: number; // 0..9999
  errorMessage?: string; // only with reason 'ERROR'
}

// What the lead's repository appends on every admin change.
export interface FlagAuditEntry {
  flagKey: string;
  actor: string;
  at: string; // ISO time
  before: FlagDefinition | null;
  after: FlagDefinition;
}
