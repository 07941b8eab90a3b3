import type { Clock } from '../../platform/clock.js';
import type { DeferredWork } from '../../platform/deferred-work.js';
import { parseDuration } from '../../platform/duration.js';
import { BudgetExhaustedError, RateLimitedError } from '../../platform/errors.js';
import type { Policy } from '../../platform/policy.js';
import type { Feature } from '../../platform/policy.schema.js';
import type { AnthropicClient, LlmCallRecord } from '../../llm/client/types.js';
import { isLlmError } from '../../llm/client/llm-error.js';
import type { CacheManager } from '../cache/cache-manager.js';
import { cacheKey, userTag } from '../cache/cache-key.js';
import type { FlagSnapshot } from '../flags/flag-snapshot.js';
import { LimiterUnavailableError, type LimitDecision, type LimitSpec, type RateLimiter } from '../limits/limit-types.js';
import type { Principal } from '../identity/identity.types.js';
import { budgetLines, secondsUntilReset } from '../usage/budget-policy.js';
import type { MeteringService, UsageSummary } from '../usage/metering.service.js';
import { UserErasedError, ZERO_SUMMARY } from '../usage/metering.service.js';
import type { PriceBook } from '../usage/price-book.js';
import { limitKeyFor, limitSpecFor } from './limit-spec.js';
import type { InputTokenEstimator } from './input-token-estimator.js';
import type { PremiumMetrics } from './premium-metrics.js';
import type { FallbackReason, PremiumOutcome, PremiumTask } from './premium.types.js';

export interface UserOverrides {
  limits: Partial<LimitSpec> | null;
  monthlyBudgetMicros: number | null;
}

export interface PremiumPipelineDeps {
  policy: Policy;
  clock: Clock;
  flags: Pick<FlagSnapshot, 'evaluate'>;
  limiter: RateLimiter;
  cache?: CacheManager | undefined;
  llm: Pick<AnthropicClient, 'structured' | 'available' | 'modelFor' | 'breakerState'>;
  inputTokens: Pick<InputTokenEstimator, 'estimate'>;
  metering: Pick<MeteringService, 'reserve' | 'price' | 'settlePriced'>;
  // Where the books are written after the answer (see callLlm).
  deferred: Pick<DeferredWork, 'later'>;
  prices: Pick<PriceBook, 'worstCaseMicros'>;
  overrides: (userId: string) => Promise<UserOverrides | undefined>;
  metrics?: PremiumMetrics;
  onLimitDecision?: (p: Principal, feature: string, decision: { allowed: boolean; violated?: string }) => void;
}

// A request the request-rate limiter let through: what the rest of the pipeline needs from
// the decision (the caller's limits, key and budget override) and the headers it answers with.
export interface Admission {
  readonly principal: Principal;
  readonly feature: Feature;
  readonly spec: LimitSpec;
  readonly limitKey: string;
  readonly override: UserOverrides | undefined;
  readonly headers: Record<string, string>;
  /** the request-window decision that admitted it (a refusal after admission gives its point back there) */
  readonly decision: LimitDecision;
}

// A rules answer when it is not the LLM's turn; carries why, for the response and metrics.
// Control flow, not a fault, and thrown for every free user's request: no stack is
// captured (a capture walks the whole call stack, as errors.ts says of client errors).
class Fallback extends Error {
  constructor(
    readonly reason: FallbackReason,
    readonly notice?: string,
    readonly variant?: string,
  ) {
    const frames = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(reason);
    Error.stackTraceLimit = frames;
  }
}


// The one premium path: limit → entitle → flag → cache → (limits on tokens and
// concurrency → reserve budget → call → validate) → respond → settle the books, with the
// rules answer whenever the LLM may not or cannot answer.
export class PremiumPipeline {
  constructor(private readonly d: PremiumPipelineDeps) {}

  // The request-rate decision, which a feature asks for before it does any work of its own
  // for the request (reads, recommendations, prompts): a refused request costs a limiter
  // decision, nothing more. Throws RateLimitedError (429) when the request is over a limit.
  async admit(p: Principal, feature: Feature): Promise<Admission> {
    const override = await this.d.overrides(p.userId);
    const spec = limitSpecFor(this.d.policy, p.tier, feature, override?.limits);
    const limitKey = limitKeyFor(p.tier, feature, p.userId);
    const decision = await this.d.limiter.hitRequest(limitKey, spec);
    this.d.onLimitDecision?.(p, feature, decision);
    if (!decision.allowed) throw new RateLimitedError(decision.violated ?? 'requests', decision.retryAfterSec, decision.headers);
    return { principal: p, feature, spec, limitKey, override, headers: decision.headers, decision };
  }

  // `admitted`: the admission the feature asked for before building the task; without it
  // the request is admitted here. One admission answers for one task only.
  async run<T>(task: PremiumTask<T>, admitted?: Admission): Promise<PremiumOutcome<T>> {
    const a = admitted ?? (await this.admit(task.principal, task.feature));
    if (a.principal.userId !== task.principal.userId || a.feature !== task.feature) throw new Error(`admission for ${a.feature} used for ${task.feature}, or for another principal`);

    const outcome = await this.answer(task, a).catch(async (err: unknown) => {
      // A budget refused with 429 (onExhausted: reject) is an answer too: counted, not lost.
      if (err instanceof BudgetExhaustedError) this.d.metrics?.outcome(task.feature, 'refused', 'budget_exhausted');
      // Refused after admission (its concurrency or token limit, a spent budget): a 429 costs
      // none of the request windows, or a client told to retry in 1 s would find its minute spent.
      if (err instanceof RateLimitedError || err instanceof BudgetExhaustedError) await this.d.limiter.refundRequest(a.limitKey, a.spec, a.decision).catch(() => {});
      if (!(err instanceof Fallback)) throw err;
      const value = await task.rules();
      // Rules answers report zero usage (CONTRACT.md); what a failed call spent is in the ledger.
      return { value, source: 'rules' as const, usage: ZERO_SUMMARY, fallbackReason: err.reason, notices: err.notice ? [err.notice] : [], ...(err.variant ? { flagVariant: err.variant } : {}) };
    });
    this.d.metrics?.outcome(task.feature, outcome.source, outcome.fallbackReason);
    return { ...outcome, headers: a.headers };
  }

  private async answer<T>(task: PremiumTask<T>, a: Admission): Promise<Omit<PremiumOutcome<T>, 'headers'>> {
    const p = task.principal;
    if (!p.entitlements.includes(task.feature)) throw new Fallback('not_entitled');
    const flag = this.d.flags.evaluate(task.feature, { userId: p.userId, tier: p.tier, roles: p.roles });
    if (!flag?.enabled) throw new Fallback('flag_off');
    const variant = flag.variant;
    // In an experiment on a premium feature, the `control` arm gets the rules answer.
    if (variant === 'control') throw new Fallback('experiment_control', undefined, variant);
    if (!variant) return this.assigned(task, a, undefined);
    // Whatever answers from here on (the LLM, the cache, or the rules when the call fails,
    // the budget is spent or the breaker is open) answers for this arm: an experiment
    // that lost its treatment users whenever their call failed would compare the control
    // arm with the lucky part of the other.
    try {
      return await this.assigned(task, a, variant);
    } catch (err) {
      if (err instanceof Fallback && err.variant === undefined) throw new Fallback(err.reason, err.notice, variant);
      throw err;
    }
  }

  private async assigned<T>(task: PremiumTask<T>, a: Admission, variant: string | undefined): Promise<Omit<PremiumOutcome<T>, 'headers'>> {
    const p = task.principal;
    if (task.blankInput) throw new Fallback('blank_input');

    const model = this.d.llm.modelFor(task.feature);
    const cachePolicy = this.d.policy.cache[task.feature];
    if (!this.d.cache || !task.cache || !cachePolicy) {
      const r = await this.callLlm(task, a, model);
      return { ...r, notices: [], ...(variant ? { flagVariant: variant } : {}) };
    }
    // The stricter scope wins: an operator who asks for per-user caching gets it, and a task
    // whose answers are personal is never shared, whatever the policy says.
    const scope = task.cache.scope === 'user' || cachePolicy.scope === 'user' ? 'user' : 'shared';
    const cacheable = task.cache.cacheable;
    // One user's entries carry their user tag, so purging `user:<id>` reaches them (ADR 0003 §2).
    const tags = scope === 'user' ? [...task.cache.tags, userTag(p.userId)] : task.cache.tags;
    const key = cacheKey({
      feature: task.feature,
      scope,
      ...(scope === 'user' ? { userId: p.userId } : {}),
      template: task.llm.template,
      model,
      inputs: task.cache.inputs,
      tags,
    });
    let computed: Awaited<ReturnType<PremiumPipeline['callLlm']>> | undefined;
    let led = false;
    const compute = () =>
      this.d.cache!.getOrCompute<T>(key, { ttlMs: parseDuration(cachePolicy.ttl) ?? 3_600_000, tags, feature: task.feature }, async () => {
        led = true;
        computed = await this.callLlm(task, a, model);
        const tokens = computed.usage.inputTokens + computed.usage.outputTokens + computed.usage.cacheReadTokens + computed.usage.cacheWriteTokens;
        return { value: computed.value as T, cacheable: cacheable ? cacheable(computed.value as T) : true, meta: { costMicros: Math.round(computed.usage.costUsd * 1e6), tokens } };
      });
    let got: Awaited<ReturnType<typeof compute>> | undefined;
    while (!got) {
      try {
        got = await compute();
      } catch (err) {
        // A shared single-flight hands the leader's error to everyone waiting on the key. A
        // refusal that belongs to the leader alone (its rate limit or budget) must not answer
        // for another user: a follower tries again, on its own account. Not just once: its
        // retry may join the retry another follower leads, and that one can be refused too.
        // Each round a refused leader leaves, so this ends by leading (or being served).
        if (led || !isPerCallerRefusal(err)) throw err;
      }
    }
    // Whoever did not make the call (a hit, or a follower of a single-flight) pays nothing.
    if (computed) return { value: got.value, source: 'llm', usage: computed.usage, model, notices: [], ...(variant ? { flagVariant: variant } : {}) };
    return { value: got.value, source: 'cache', usage: ZERO_SUMMARY, notices: [], ...(variant ? { flagVariant: variant } : {}) };
  }

  private async callLlm<T>(task: PremiumTask<T>, a: Admission, model: string): Promise<{ value: T; source: 'llm'; usage: UsageSummary; model: string }> {
    const { principal: p, spec, limitKey, override } = a;
    if (!this.d.llm.available(task.feature)) throw new Fallback(this.d.llm.breakerState(task.feature) === 'open' ? 'circuit_open' : 'no_api_key');
    const now = this.d.clock.now();
    // Every attempt that can be billed and metered: a streamed attempt broken mid-answer is (the
    // usage its message_start reported goes into the call's record), so each retry of a streamed
    // call may cost up to a call. The holds cover them all, or spend could pass a cap (ADR 0002).
    const maxAttempts = (task.llm.maxCalls ?? 2) * (task.llm.stream ? 1 + this.d.policy.llm.maxRetries : 1);
    const prompt = task.llm.prompt();
    const inputEstimate = await this.d.inputTokens.estimate(task.feature, prompt.system, prompt.user, prompt.schema);
    const tokenEstimate = (inputEstimate + task.llm.maxTokens) * maxAttempts;

    // The slot and the token reservation are asked for at once (one round trip with Redis,
    // not two); whichever was granted is given back when the other is refused.
    const [slotR, tokensR] = await Promise.allSettled([
      spec.concurrent !== undefined ? this.d.limiter.acquireSlot(limitKey, spec.concurrent) : undefined,
      spec.tokensPerDay !== undefined ? this.d.limiter.reserveTokens(limitKey, spec, tokenEstimate) : undefined,
    ]);
    const slot = slotR.status === 'fulfilled' && slotR.value?.allowed ? slotR.value : undefined;
    const tokens = tokensR.status === 'fulfilled' && tokensR.value?.allowed ? tokensR.value : undefined;
    const refusal =
      slotR.status === 'rejected' ? slotR.reason : tokensR.status === 'rejected' ? tokensR.reason
      // A refusal after admission carries the request window's headers, as every answer does.
      : slotR.value && !slotR.value.allowed ? new RateLimitedError('concurrent', 1, a.headers)
      : tokensR.value && !tokensR.value.allowed ? new RateLimitedError('tokensPerDay', tokensR.value.retryAfterSec, a.headers)
      : undefined;
    if (refusal !== undefined) {
      await Promise.all([slot?.release().catch(() => {}), tokens?.release().catch(() => {})]);
      // Counted like a request-window refusal (metrics, abuse detection), by its own limit.
      if (refusal instanceof RateLimitedError) this.d.onLimitDecision?.(p, task.feature, { allowed: false, violated: (refusal.details as { limit: string }).limit });
      // Premium LLM calls fail closed: no limiter, no upstream spend.
      if (refusal instanceof LimiterUnavailableError) throw new Fallback('limiter_unavailable');
      throw refusal;
    }
    // Settled together with the slot's release, after the call. A limiter that cannot settle
    // (reported through its own error hook) keeps the worst-case hold until its window ends:
    // the learner has paid for the answer and gets it.
    let tokensSettled: Promise<void> | undefined;
    const settleTokens = (calls: LlmCallRecord[]) => tokens?.settle(tokensOf(calls)).catch(() => {});

    try {
      const lines = budgetLines(this.d.policy, { userId: p.userId, tier: p.tier, feature: task.feature, userMonthlyOverrideMicros: override?.monthlyBudgetMicros ?? null }, now);
      const worst = this.d.prices.worstCaseMicros(model, inputEstimate, task.llm.maxTokens, now) * maxAttempts;
      const reserved = await this.d.metering.reserve({ userId: p.userId, feature: task.feature, model, worstCaseMicros: worst, lines, at: now });
      if (!reserved.ok) {
        this.d.metrics?.budgetRefused(reserved.refusedKey);
        if (this.d.policy.budgets.onExhausted === 'reject') throw new BudgetExhaustedError(budgetName(reserved.refusedKey), secondsUntilReset(reserved.refusedKey, now), a.headers);
        throw new Fallback('budget_exhausted', `The ${budgetName(reserved.refusedKey)} budget is spent; this answer comes from the rules engine.`);
      }

      const calls: LlmCallRecord[] = [];
      const once = async (): Promise<T> => {
        try {
          const r = await this.d.llm.structured({ feature: task.feature, system: prompt.system, user: prompt.user, schema: prompt.schema, parse: task.llm.parse, maxTokens: task.llm.maxTokens, ...(task.llm.stream ? { stream: true } : {}) });
          calls.push(...r.calls);
          return r.value;
        } catch (err) {
          if (isLlmError(err)) calls.push(...err.calls);
          throw err;
        }
      };
      // The books are written after the answer: the learner does not wait for them, the
      // answer's usage is priced in memory, and until the settlement lands the budgets hold
      // the worst case and the pending row stands for the call (ADR 0010).
      const settleLater = (source: 'llm' | 'rules') => {
        const bill = this.d.metering.price(calls);
        this.d.deferred.later('settle', () => this.d.metering.settlePriced(reserved.reservation, bill, source, lines));
        tokensSettled = settleTokens(calls);
        return bill.summary;
      };
      let value: T;
      try {
        const first = once();
        // After this turn's microtasks, by when the request has been written to the socket.
        if (task.whileWaiting) setImmediate(task.whileWaiting);
        value = await first;
        if (task.refine) value = await task.refine(value, once);
      } catch (err) {
        // Settled, not released: the failed call's records carry what its attempts were billed
        // (a stream broken mid-answer), and that counts against the budgets like an answer.
        settleLater('rules');
        if (isLlmError(err)) throw new Fallback(err.code === 'upstream_invalid_output' ? 'invalid_output' : err.code === 'circuit_open' ? 'circuit_open' : 'upstream_failure');
        throw err;
      }
      return { value, source: 'llm', usage: settleLater('llm'), model };
    } finally {
      // Tokens not settled (no call was made: the budget refused, or the store or the
      // prompt failed before it) are given back whole, never held for the day.
      await Promise.all([tokensSettled ?? tokens?.release().catch(() => {}), slot?.release().catch(() => {})]);
    }
  }
}

function isPerCallerRefusal(err: unknown): boolean {
  // An erased leader's refusal is its own too: a follower of a shared entry goes on.
  return err instanceof RateLimitedError || err instanceof BudgetExhaustedError || err instanceof UserErasedError || (err instanceof Fallback && err.reason === 'budget_exhausted');
}

function tokensOf(calls: LlmCallRecord[]): number {
  return calls.reduce((n, c) => n + c.usage.inputTokens + c.usage.outputTokens + c.usage.cacheReadTokens + c.usage.cacheWrite5mTokens + c.usage.cacheWrite1hTokens, 0);
}

function budgetName(key: string): string {
  if (key.startsWith('user:')) return 'monthly user';
  if (key.startsWith('feature:')) return `daily ${key.split(':')[1]} feature`;
  return 'daily global';
}
