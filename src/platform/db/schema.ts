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
  last_event_at: number; // newest event time applied; older events are ignored
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

export interface DB {
  users: UsersTable;
  subscriptions: SubscriptionsTable;
  api_keys: ApiKeysTable;
  webhook_events: WebhookEventsTable;
}

export type { Generated };
