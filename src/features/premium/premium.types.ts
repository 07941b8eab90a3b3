import type { Feature } from '../../platform/policy.schema.js';
import type { StructuredRequest } from '../../llm/client/types.js';
import type { Principal } from '../identity/identity.types.js';
import type { UsageSummary } from '../usage/metering.service.js';

export type Source = 'llm' | 'cache' | 'rules';

export type FallbackReason =
  | 'not_entitled'
  | 'flag_off'
  | 'experiment_control'
  | 'no_api_key'
  | 'circuit_open'
  | 'budget_exhausted'
  | 'limiter_unavailable'
  | 'upstream_failure'
  | 'invalid_output'
  | 'blank_input';

export interface PremiumTask<T> {
  feature: Feature;
  principal: Principal;
  // The deterministic answer every request can fall back to.
  rules: () => T | Promise<T>;
  // Nothing for a model to read (a blank answer to grade): the rules answer is certain, so it
  // is given at once, at no cost, with fallbackReason 'blank_input'.
  blankInput?: boolean;
  // Without it the result is never cached. The policy may narrow `scope` to 'user', never
  // widen it; a 'user' entry gets the user's tag from the pipeline. `cacheable` may refuse to store a value that should be answered but not kept
  // (e.g. a grade whose second opinion could not be had: the next identical answer tries again).
  cache?: { scope: 'shared' | 'user'; inputs: unknown; tags: string[]; cacheable?: (value: T) => boolean };
  // The structured request (see src/llm/client/types.ts), plus what the pipeline needs.
  // The prompt is built only when a call is made: a cache hit or a rules answer never needs it.
  llm: Pick<StructuredRequest<T>, 'parse' | 'maxTokens' | 'stream'> & {
    template: { id: string; version: number };
    prompt: () => Pick<StructuredRequest<T>, 'system' | 'user' | 'schema'>;
    // Upper bound of upstream calls this task may make (a repair doubles a call);
    // the budget reservation covers all of them (and, for a streamed task, every retry of each).
    maxCalls?: number;
  };
  // A second look at an LLM answer (e.g. an independent second sample for a
  // low-confidence grade); `again` makes one more structured call of the same request.
  refine?: (first: T, again: () => Promise<T>) => Promise<T>;
  // Work the answer will need whatever the upstream says (e.g. the rules grade a
  // consistency check compares with), done while the first call is in flight: the
  // event loop is otherwise idle then, so a lone request does not wait for it after
  // the answer. It must be memoised by the task and must not throw.
  whileWaiting?: () => void;
}

export interface PremiumOutcome<T> {
  value: T;
  source: Source;
  usage: UsageSummary;
  fallbackReason?: FallbackReason;
  notices: string[];
  headers: Record<string, string>;
  model?: string;
  flagVariant?: string;
}
