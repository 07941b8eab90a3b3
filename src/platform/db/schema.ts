import type { Generated } from 'kysely';

// Times are epoch milliseconds, money is integer micro-dollars, booleans are 0/1:
// the same columns work on SQLite and Postgres.

export interface UsersTable {
  id: string;
  roles: string; // comma-separated: learner,instructor,admin
  created_at: number;
  disabled: number;
}

export interface SubscriptionsTable {
  user_id: string;
  plan: string; // premium
  status: 'active' | 'trialing' | 'past_due' | 'canceled' | 'expired';
  current_period_end: number | null; // null: no end (granted by an admin)
  source: string; // admin | billing
  last_event_at: number; // newest event time applied (a failed payment keeps the one before it); older events are ignored
  updated_at: number;
}

export interface ApiKeysTable {
  id: string;
  user_id: string;
  prefix: string; // shown to humans to tell keys apart; never enough to use
  hash: string; // sha256 hex of the whole key
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface WebhookEventsTable {
  event_id: string;
  type: string;
  user_id: string | null;
  occurred_at: number;
  received_at: number;
}

export interface UsageLedgerTable {
  id: string;
  message_id: string | null; // upstream message id: one row per upstream call
  request_id: string | null;
  reservation_id: string | null;
  budget_keys: string | null;
  user_id: string;
  feature: string;
  model: string;
  input_tokens: number;
  output_tokens: number;
  cache_write_5m_tokens: number;
  cache_write_1h_tokens: number;
  cache_read_tokens: number;
  cost_micros: number;
  reserved_micros: number;
  price_version: string;
  latency_ms: number;
  outcome: string;
  source: string;
  status: 'pending' | 'settled';
  batch: number;
  day: string;
  created_at: number;
  settled_at: number | null;
}

export interface UsageDailyTable {
  day: string;
  user_id: string;
  feature: string;
  model: string;
  calls: number;
  input_tokens: number;
  output_tokens: number;
  cache_write_tokens: number;
  cache_read_tokens: number;
  cost_micros: number;
}

export interface BudgetCountersTable {
  key: string; // user:ID:YYYY-MM | feature:F:YYYY-MM-DD | global:YYYY-MM-DD
  spent_micros: number;
  reserved_micros: number;
  updated_at: number;
}

export interface SharedSecretsTable {
  name: string;
  value: string;
  created_at: number;
}

export interface NotificationsSentTable {
  key: string;
  sent_at: number;
}

export interface UserOverridesTable {
  user_id: string;
  limits_json: string | null;
  monthly_budget_micros: number | null;
  updated_at: number;
}

export interface FlagsTable {
  key: string;
  definition_json: string;
  version: number;
  updated_at: number;
  updated_by: string;
}

export interface FlagAuditTable {
  id: string;
  flag_key: string;
  actor: string;
  at: number;
  before_json: string | null;
  after_json: string;
}

export interface CatalogsTable {
  version: string;
  catalog_json: string;
  active: number;
  created_at: number;
}

export interface ProgressEventsTable {
  user_id: string;
  event_id: string; // the client's id: a resent batch is recorded once
  item_id: string;
  correct: number;
  at: number;
  received_at: number;
}

export interface LearnerStatesTable {
  user_id: string;
  state_json: string;
  last_event_at: number;
  events: number;
  updated_at: number;
  // The state of the learner's events the retention job deleted (migration 0010).
  base_json: string | null;
  base_events: Generated<number>;
  base_last_at: Generated<number>;
}

export interface KtParamsTable {
  id: string;
  params_json: string;
  fitted_at: number;
}

export interface RecommendationsTable {
  id: string;
  user_id: string;
  experiment: string | null;
  variant: string | null;
  source: string;
  item_ids: string; // JSON array
  at: number;
}

export interface ExperimentExposuresTable {
  experiment: string;
  user_id: string;
  variant: string;
  first_at: number;
  exposures: number;
}

export interface RubricsTable {
  id: string;
  version: number;
  owner_id: string | null;
  definition_json: string;
  created_at: number;
}

export interface EvaluationsTable {
  id: string;
  user_id: string;
  rubric_id: string;
  rubric_version: number;
  rubric_json: string | null;
  question: string;
  answer: string;
  result_json: string;
  source: string;
  confidence: number;
  review_status: 'none' | 'pending' | 'resolved';
  review_reasons: string | null;
  override_json: string | null;
  reviewed_by: string | null;
  reviewed_at: number | null;
  created_at: number;
}

export interface CalibrationRunsTable {
  id: string;
  rubric_id: string;
  rubric_version: number;
  model: string;
  template_version: number;
  n: number;
  kappa: number;
  exact: number;
  at: number;
}

export interface AdminSessionsTable {
  id: string; // the session token's jti
  user_id: string;
  key_id: string | null; // the API key that signed in; null for a JWT
  created_at: number;
  expires_at: number;
  ended_at: number | null; // signed out
}

export interface DB {
  users: UsersTable;
  subscriptions: SubscriptionsTable;
  api_keys: ApiKeysTable;
  webhook_events: WebhookEventsTable;
  usage_ledger: UsageLedgerTable;
  usage_daily: UsageDailyTable;
  budget_counters: BudgetCountersTable;
  notifications_sent: NotificationsSentTable;
  user_overrides: UserOverridesTable;
  flags: FlagsTable;
  flag_audit: FlagAuditTable;
  catalogs: CatalogsTable;
  progress_events: ProgressEventsTable;
  learner_states: LearnerStatesTable;
  kt_params: KtParamsTable;
  recommendations: RecommendationsTable;
  experiment_exposures: ExperimentExposuresTable;
  rubrics: RubricsTable;
  evaluations: EvaluationsTable;
  calibration_runs: CalibrationRunsTable;
  admin_sessions: AdminSessionsTable;
  shared_secrets: SharedSecretsTable;
}

export type { Generated };
