// The one way premium features reach the model: structured JSON answers, validated and repaired
// once, with our own retries (so every attempt is recorded and total time is capped), a circuit
// breaker, a local concurrency cap, and a call record per upstream call for metering.
import Anthropic from '@anthropic-ai/sdk';
import type { Message, MessageCreateParamsNonStreaming, MessageParam } from '@anthropic-ai/sdk/resources/messages';
import type { MessageBatch } from '@anthropic-ai/sdk/resources/messages/batches';
import { CircuitBreaker, type BreakerState } from './circuit-breaker.js';
import { ConcurrencyGate, GateRejected } from './concurrency-gate.js';
import { createHttpFetch } from './http-transport.js';
import { fingerprint, scrubSecrets } from './key-source.js';
import { LlmError, type LlmErrorCode } from './llm-error.js';
import { mapSdkError, type MappedError } from './map-sdk-error.js';
import { answerText, apiSchema, messageParams, parseJsonAnswer, repairTurns, systemParam } from './message-params.js';
import type {
  AnthropicClient,
  AnthropicClientConfig,
  BatchItem,
  BatchResultItem,
  BatchStatus,
  LlmCallRecord,
  LlmUsage,
  StructuredRequest,
  StructuredResult,
  SystemBlock,
} from './types.js';
import { addUsage, emptyUsage, toLlmUsage } from './usage.js';

const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_BACKOFF_MS = 20_000;
// A retry given less than this is not worth making: it cannot succeed against a real upstream,
// and its certain timeout would be reported instead of the error that caused the retry (and
// counted against the breaker). Capped by the feature timeout, which is what an attempt gets.
const MIN_USEFUL_ATTEMPT_MS = 1_000;
// count_tokens only sharpens an estimate we already have, so it must never hold a request long.
const COUNT_TOKENS_TIMEOUT_MS = 5_000;

// `spent`: what a failed attempt is known to have used upstream. Only a stream can know it: its
// message_start reported the input and cache tokens, and each message_delta the cumulative output.
type AttemptResult = { ok: true; message: Message; requestId?: string } | { ok: false; mapped: MappedError; spent?: LlmUsage };

interface CallContext {
  feature: string;
  model: string;
  calls: LlmCallRecord[];
  signal?: AbortSignal | undefined;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function createAnthropicClient(cfg: AnthropicClientConfig): AnthropicClient {
  const now = cfg.now ?? Date.now;
  const sleep = cfg.sleep ?? defaultSleep;
  const logger = cfg.logger;

  let apiKey: string | null = null;
  let sdk: Anthropic | null = null;
  // Keys replaced by rotation are still scrubbed: in-flight errors may carry the old one.
  const retiredKeys: string[] = [];

  const scrub = (text: string) => scrubSecrets(text, [apiKey, ...retiredKeys]);
  const keyFingerprint = () => (apiKey ? fingerprint(apiKey) : null);

  // Two kinds of breaker: one per model for upstream failures (an overloaded grading model
  // must not take learning paths down with it), and one for the key, which a 401/403
  // trips for every model at once.
  const keyBreaker = new CircuitBreaker(cfg.breaker, now, (reason) => {
    logger?.warn({ event: 'llm_breaker_open', scope: 'key', reason: scrub(reason), openMs: cfg.breaker.openMs }, 'LLM circuit breaker opened for every model');
  });
  const modelBreakers = new Map<string, CircuitBreaker>();
  const breakerFor = (model: string): CircuitBreaker => {
    let b = modelBreakers.get(model);
    if (!b) {
      b = new CircuitBreaker(cfg.breaker, now, (reason) => {
        logger?.warn({ event: 'llm_breaker_open', scope: 'model', model, reason: scrub(reason), openMs: cfg.breaker.openMs }, 'LLM circuit breaker opened');
      });
      modelBreakers.set(model, b);
    }
    return b;
  };
  // One concurrency gate per model, like the breakers: calls to a model that hangs hold only
  // that model's slots, so they cannot queue another feature's calls behind them (feature
  // isolation), and Anthropic's rate limits, which are per model, bound each gate.
  const gates = new Map<string, ConcurrencyGate>();
  const gateFor = (model: string): ConcurrencyGate => {
    let g = gates.get(model);
    if (!g) gates.set(model, (g = new ConcurrencyGate(cfg.concurrency)));
    return g;
  };
  // One transport for every SDK instance (a rotated key keeps the warm connections), with a
  // socket for every slot of every model's gate: a queue in the agent would share them again.
  const models = new Set(Object.values(cfg.models)).size;
  const transport = cfg.fetch ?? createHttpFetch({ maxSockets: Math.max(16, cfg.concurrency.maxInFlight * Math.max(1, models)) });
  const stateOf = (model: string): BreakerState => (keyBreaker.state() === 'open' ? 'open' : breakerFor(model).state());

  function setApiKey(key: string | null): void {
    const next = key?.trim() || null;
    if (next === apiKey) return;
    if (apiKey) {
      retiredKeys.unshift(apiKey);
      retiredKeys.length = Math.min(retiredKeys.length, 3);
    }
    apiKey = next;
    sdk = next
      ? new Anthropic({
          apiKey: next,
          ...(cfg.baseURL !== undefined ? { baseURL: cfg.baseURL } : {}),
          // Retries are ours: each attempt is recorded, the total is capped, the breaker sees each failure.
          maxRetries: 0,
          timeout: DEFAULT_TIMEOUT_MS,
          // The SDK's own logging could print request details; ours is scrubbed and structured.
          logLevel: 'off',
          fetch: transport,
        })
      : null;
    // A new key is the usual fix for a 401/403 trip; give it a chance at once.
    keyBreaker.reset();
  }
  setApiKey(cfg.apiKey);

  // A 401/403 to the key `client` was made with. Alert-level: every LLM feature is down
  // until the key is fixed (fingerprint only, never the key). The breaker trips only while
  // that key is still the current one: an old key's call still in flight when the key was
  // rotated must not shut the new key out for `openMs`.
  function keyRejected(client: Anthropic, m: { status?: number | undefined; requestId?: string | undefined; accountBlocked?: true | undefined }, feature?: string): void {
    const current = client === sdk;
    if (m.accountBlocked) {
      // A spend cap or a billing problem: every call of every model would get the same answer
      // until someone raises the cap or fixes billing, so fail fast and say so.
      if (current) keyBreaker.trip(`upstream answered ${m.status}: the account's spend limit or billing blocks every call`);
      logger?.error(
        { alert: true, event: 'llm_account_blocked', status: m.status, requestId: m.requestId, key: client.apiKey ? fingerprint(client.apiKey) : null, current, ...(feature ? { feature } : {}) },
        'Anthropic refused the call for the account (spend limit reached or billing error); LLM calls are failing fast until the breaker half-opens',
      );
      return;
    }
    if (current) keyBreaker.trip(`upstream answered ${m.status} to our API key`);
    logger?.error(
      { alert: true, event: 'llm_auth_failed', status: m.status, requestId: m.requestId, key: client.apiKey ? fingerprint(client.apiKey) : null, current, ...(feature ? { feature } : {}) },
      current ? 'Anthropic rejected the API key; LLM calls are failing fast until the key is rotated or the breaker half-opens' : 'Anthropic rejected a rotated-out API key on a call made before the rotation',
    );
  }

  function modelFor(feature: string): string {
    const model = cfg.models[feature] ?? cfg.models['default'];
    // A missing model is a deployment bug, not an upstream condition: fail loudly, not into a fallback.
    if (!model) throw new Error(`no model configured for LLM feature "${feature}"`);
    return model;
  }

  function timeoutFor(feature: string): number {
    return cfg.timeoutsMs[feature] ?? cfg.timeoutsMs['default'] ?? DEFAULT_TIMEOUT_MS;
  }

  function emit(ctx: CallContext, rec: LlmCallRecord): void {
    ctx.calls.push(rec);
    try {
      cfg.onCall?.(rec);
    } catch (e) {
      // Metering bugs must not turn a good answer into a failure.
      logger?.error({ event: 'llm_on_call_failed', err: scrub(String(e)) }, 'onCall hook threw');
    }
  }

  function localRefusal(ctx: CallContext, code: LlmErrorCode, message: string, retryable: boolean): LlmError {
    emit(ctx, { feature: ctx.feature, model: ctx.model, attempts: 0, retries: 0, latencyMs: 0, usage: emptyUsage(), outcome: code });
    return new LlmError(code, message, { retryable, attempts: 0, calls: ctx.calls });
  }

  async function attemptOnce(client: Anthropic, params: MessageCreateParamsNonStreaming, streamed: boolean, timeoutMs: number, signal?: AbortSignal): Promise<AttemptResult> {
    // The SDK's timeout covers only the wait for headers; this deadline also covers reading the
    // body or the stream, which is where a hung upstream usually stalls.
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    const onAbort = () => ctl.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    // The listener never fires for a signal aborted before it was added. Callers check first,
    // but this is the last line before a billed request.
    if (signal?.aborted) ctl.abort();
    let stream: ReturnType<Anthropic['messages']['stream']> | undefined;
    // The message message_start began, kept for metering: the SDK updates this object in place
    // (message_delta's usage included) but forgets it when a stream ends without message_stop
    // (a proxy closing the response properly mid-answer), so its `currentMessage` is then gone.
    let started: Message | undefined;
    try {
      let message: unknown;
      let requestId: string | null | undefined;
      const opts = { timeout: timeoutMs, maxRetries: 0, signal: ctl.signal };
      if (streamed) {
        stream = client.messages.stream(params, opts);
        // `once`: the first streamEvent is message_start's; later events pay nothing for it.
        stream.once('streamEvent', (_event: unknown, snapshot: Message) => (started = snapshot));
        message = await stream.finalMessage();
        requestId = stream.request_id;
      } else {
        const m = await client.messages.create(params, opts);
        message = m;
        requestId = m._request_id;
      }
      if (!isMessage(message)) {
        return { ok: false, mapped: { code: 'upstream_invalid_output', retryable: true, upstreamFailure: true, authFailure: false, message: 'upstream returned a body that is not a message', ...(requestId ? { requestId } : {}) } };
      }
      return { ok: true, message, ...(requestId ? { requestId } : {}) };
    } catch (e) {
      const mapped = mapSdkError(e, now());
      // A stream that broke after it connected knows its request id even though the error does not.
      if (!mapped.requestId && stream?.request_id) mapped.requestId = stream.request_id;
      // A stream that broke after message_start (a cut, an end without message_stop, an `error`
      // event, our deadline or the caller's abort while reading it) was being answered, and the API bills what it processed:
      // the SDK's snapshot holds the usage reported up to the break. None before message_start.
      // A failed non-streamed attempt has no body to read usage from: it stays unmetered.
      const partial = (stream?.currentMessage ?? started)?.usage;
      return partial ? { ok: false, mapped, spent: toLlmUsage(partial) } : { ok: false, mapped };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  function backoff(attempt: number, retryAfterMs: number | undefined): number {
    if (retryAfterMs !== undefined) return retryAfterMs;
    const exp = Math.min(MAX_BACKOFF_MS, cfg.retry.baseDelayMs * 2 ** (attempt - 1));
    // Jitter spreads retries of many requests that failed together.
    return Math.round(exp * (0.5 + Math.random() * 0.5));
  }

  async function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (!signal) {
      await sleep(ms);
      return true;
    }
    if (signal.aborted) return false;
    let onAbort!: () => void;
    const aborted = new Promise<false>((resolve) => {
      onAbort = () => resolve(false);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([sleep(ms).then(() => true as const), aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** One logical upstream call with its retries. Success returns the record un-emitted (the caller sets its outcome). */
  async function callUpstream(ctx: CallContext, params: MessageCreateParamsNonStreaming, streamed: boolean, repair: boolean): Promise<{ message: Message; record: LlmCallRecord }> {
    const start = now();
    const timeoutMs = timeoutFor(ctx.feature);
    const minAttemptMs = Math.min(MIN_USEFUL_ATTEMPT_MS, timeoutMs);
    // maxTotalMs bounds the retries, counted from the start of the call: the first attempt always
    // gets the full feature timeout (an operator's timeout is not silently shortened by the retry
    // budget, whose default is below the learning path's timeout), and no retry runs past the cap.
    const left = () => cfg.retry.maxTotalMs - (now() - start);
    let attempts = 0;
    let last: MappedError | undefined;
    // What the failed attempts of this call reported before they broke: it goes into the one
    // record of the call, the success's or the failure's, so each attempt is metered once.
    let spent = emptyUsage();
    const fail = (m: MappedError, retryable: boolean): LlmError => {
      const rec: LlmCallRecord = {
        feature: ctx.feature,
        model: ctx.model,
        attempts,
        retries: Math.max(0, attempts - 1),
        latencyMs: now() - start,
        usage: spent,
        outcome: m.code,
        ...(m.requestId ? { requestId: m.requestId } : {}),
        ...(streamed ? { streamed } : {}),
        ...(repair ? { repair } : {}),
      };
      emit(ctx, rec);
      return new LlmError(m.code, `${ctx.feature}: ${scrub(m.message)}`, {
        ...(m.status !== undefined ? { status: m.status } : {}),
        ...(m.requestId ? { requestId: m.requestId } : {}),
        retryable,
        attempts,
        calls: ctx.calls,
      });
    };

    const callerAborted = (m: MappedError): LlmError => fail({ ...m, code: 'upstream_timeout', message: 'aborted by the caller' }, false);
    for (;;) {
      // Before every attempt, the first of a repair round included: a caller who has gone
      // (aborted before the call, or while we judged the previous answer) must not be billed.
      if (ctx.signal?.aborted) throw callerAborted(last ?? { code: 'upstream_timeout', retryable: false, upstreamFailure: false, authFailure: false, message: '' });
      // The wait before this retry may have overrun (timers are late under load): give up with
      // the error that caused the retry rather than make an attempt too short to succeed.
      if (last && left() < minAttemptMs) throw fail(last, last.retryable);
      const client = sdk;
      if (!client) throw fail({ code: 'no_api_key', retryable: false, upstreamFailure: false, authFailure: false, message: 'no Anthropic API key configured' }, false);
      const keyPermit = keyBreaker.acquire();
      const modelPermit = keyPermit ? breakerFor(ctx.model).acquire() : null;
      if (keyPermit && !modelPermit) keyPermit.release();
      const permit = keyPermit && modelPermit ? { keyPermit, modelPermit } : null;
      if (!permit) {
        // Opened while we were backing off: report what actually went wrong upstream.
        if (last) throw fail(last, true);
        throw fail({ code: 'circuit_open', retryable: true, upstreamFailure: false, authFailure: false, message: 'LLM circuit breaker is open' }, true);
      }
      attempts++;
      const attemptTimeout = attempts === 1 ? timeoutMs : Math.min(timeoutMs, left());
      const r = await attemptOnce(client, params, streamed, attemptTimeout, ctx.signal);
      if (r.ok) {
        permit.keyPermit.success();
        permit.modelPermit.success();
        const record: LlmCallRecord = {
          feature: ctx.feature,
          model: ctx.model,
          messageId: r.message.id,
          attempts,
          retries: attempts - 1,
          latencyMs: now() - start,
          usage: addUsage(spent, toLlmUsage(r.message.usage)),
          outcome: 'ok',
          ...(r.requestId ? { requestId: r.requestId } : {}),
          ...(r.message.stop_reason ? { stopReason: r.message.stop_reason } : {}),
          ...(streamed ? { streamed } : {}),
          ...(repair ? { repair } : {}),
        };
        return { message: r.message, record };
      }
      const m = r.mapped;
      if (r.spent) spent = addUsage(spent, r.spent);
      if (ctx.signal?.aborted) {
        permit.keyPermit.release();
        permit.modelPermit.release();
        throw callerAborted(m);
      }
      if (m.authFailure || m.accountBlocked) {
        permit.modelPermit.release();
        permit.keyPermit.release();
        keyRejected(client, m, ctx.feature);
      } else if (m.notFound) {
        // The model is not served: every call to it would get the same 404 until the policy
        // names another, so its breaker opens now (the key is fine: other models go on) and
        // the alert says which model, rather than each request quietly falling to the rules.
        permit.keyPermit.success();
        permit.modelPermit.release();
        breakerFor(ctx.model).trip(`upstream answered 404 for model ${ctx.model}: ${scrub(m.message)}`);
        logger?.error(
          { alert: true, event: 'llm_model_not_found', model: ctx.model, feature: ctx.feature, status: m.status, requestId: m.requestId },
          'Anthropic does not serve the configured model; its calls fail fast to the rules until the breaker half-opens (fix models.* in the policy)',
        );
      } else {
        // An answer from the server that is not an auth failure shows the key is fine. No answer
        // at all (a reset, our deadline, a cut stream) proves nothing about the key: a half-open
        // probe after a 401 trip must not close the key breaker on it, so the permit is only
        // handed back and the next call probes again.
        if (m.answered) permit.keyPermit.success();
        else permit.keyPermit.release();
        if (m.upstreamFailure) permit.modelPermit.failure();
        else permit.modelPermit.success();
      }
      last = m;
      if (!m.retryable || attempts > cfg.retry.maxRetries) throw fail(m, m.retryable);
      const delay = backoff(attempts, m.retryAfterMs);
      // Waiting when no useful attempt fits after the wait would only turn this error (a 429, say)
      // into a timeout later: fail now, with what actually went wrong.
      if (delay + minAttemptMs > left()) throw fail(m, m.retryable);
      if (!(await sleepUnlessAborted(delay, ctx.signal))) throw callerAborted(m);
    }
  }

  type Verdict<T> =
    | { kind: 'value'; value: T }
    | { kind: 'invalid'; text: string; problems: string[] }
    | { kind: 'refused' }
    | { kind: 'truncated'; why: string };

  function judge<T>(message: Message, parse: StructuredRequest<T>['parse']): Verdict<T> {
    if (message.stop_reason === 'refusal') return { kind: 'refused' };
    if (message.stop_reason === 'max_tokens') return { kind: 'truncated', why: 'hit max_tokens' };
    if (message.stop_reason === 'model_context_window_exceeded') return { kind: 'truncated', why: "filled the model's context window" };
    const text = answerText(message.content);
    const json = parseJsonAnswer(text);
    if (!json.ok) return { kind: 'invalid', text, problems: [json.problem] };
    let outcome;
    try {
      outcome = parse(json.value);
    } catch (e) {
      return { kind: 'invalid', text, problems: [`validation failed: ${(e as Error).message}`] };
    }
    if (outcome.ok) return { kind: 'value', value: outcome.value };
    return { kind: 'invalid', text, problems: outcome.problems.length ? outcome.problems : ['the answer failed validation'] };
  }

  async function structured<T>(req: StructuredRequest<T>): Promise<StructuredResult<T>> {
    const model = modelFor(req.feature);
    const ctx: CallContext = { feature: req.feature, model, calls: [], signal: req.signal };
    if (!sdk) throw localRefusal(ctx, 'no_api_key', `${req.feature}: no Anthropic API key configured`, false);
    const abortedLocally = () => localRefusal(ctx, 'upstream_timeout', `${req.feature}: aborted by the caller`, false);
    if (req.signal?.aborted) throw abortedLocally();
    // Fail fast without queueing: a queued call would only learn the same thing later.
    if (stateOf(model) === 'open') throw localRefusal(ctx, 'circuit_open', `${req.feature}: LLM circuit breaker is open for ${model}`, true);
    let release: () => void;
    try {
      release = await gateFor(model).acquire(req.signal);
    } catch (e) {
      const why = e instanceof GateRejected ? e.reason : 'rejected';
      // The caller left while queued: the same outcome as leaving during the call.
      if (why === 'aborted') throw abortedLocally();
      throw localRefusal(ctx, 'overloaded_locally', `${req.feature}: too many LLM calls in flight (${why})`, true);
    }
    try {
      const messages: MessageParam[] = [{ role: 'user', content: req.user }];
      const streamed = req.stream === true;
      for (let round = 0; round < 2; round++) {
        const repair = round === 1;
        const params = messageParams({ model, system: req.system, messages, schema: req.schema, maxTokens: req.maxTokens });
        const { message, record } = await callUpstream(ctx, params, streamed, repair);
        const verdict = judge(message, req.parse);
        const rid = record.requestId ? { requestId: record.requestId } : {};
        if (verdict.kind === 'value') {
          emit(ctx, record);
          return { value: verdict.value, calls: ctx.calls, model };
        }
        if (verdict.kind === 'refused') {
          emit(ctx, { ...record, outcome: 'upstream_refused' });
          throw new LlmError('upstream_refused', `${req.feature}: the model declined to answer`, { ...rid, attempts: record.attempts, calls: ctx.calls });
        }
        if (verdict.kind === 'truncated') {
          emit(ctx, { ...record, outcome: 'upstream_truncated' });
          throw new LlmError('upstream_truncated', `${req.feature}: the answer ${verdict.why === 'hit max_tokens' ? `hit max_tokens (${req.maxTokens})` : verdict.why} before it was complete`, { ...rid, attempts: record.attempts, calls: ctx.calls });
        }
        emit(ctx, { ...record, outcome: 'upstream_invalid_output' });
        if (repair) {
          const problems = verdict.problems.map(scrub);
          throw new LlmError('upstream_invalid_output', `${req.feature}: the answer was still invalid after one repair: ${problems.slice(0, 3).join('; ')}`, {
            ...rid,
            attempts: record.attempts,
            calls: ctx.calls,
            problems,
          });
        }
        messages.push(...repairTurns(verdict.text, verdict.problems));
      }
      throw new Error('unreachable');
    } finally {
      release();
    }
  }

  async function countTokens(feature: string, system: SystemBlock[], user: string, schema?: Record<string, unknown>): Promise<number> {
    const model = modelFor(feature);
    const chars = system.reduce((n, b) => n + b.text.length, 0) + user.length + (schema ? JSON.stringify(schema).length : 0);
    // About 4 characters per token for English prose; good enough for budgets and routing.
    const estimate = Math.ceil(chars / 4);
    const client = sdk;
    if (!client || stateOf(model) === 'open') return estimate;
    try {
      const r = await client.messages.countTokens(
        {
          model,
          system: systemParam(system),
          messages: [{ role: 'user', content: user }],
          ...(schema ? { output_config: { format: { type: 'json_schema' as const, schema: apiSchema(schema) } } } : {}),
        },
        { timeout: Math.min(timeoutFor(feature), COUNT_TOKENS_TIMEOUT_MS), maxRetries: 0 },
      );
      if (typeof r?.input_tokens === 'number' && Number.isFinite(r.input_tokens)) return r.input_tokens;
      return estimate;
    } catch (e) {
      const m = mapSdkError(e, now());
      logger?.warn({ event: 'llm_count_tokens_failed', feature, code: m.code, status: m.status, requestId: m.requestId }, 'count_tokens failed; using the local estimate');
      return estimate;
    }
  }

  // Batch calls go out once, without our retry loop: creating a batch is not idempotent (a retry
  // after a lost response would pay twice), and batch jobs already retry on their own schedule.
  async function admin<T>(op: string, fn: (client: Anthropic) => Promise<T>): Promise<T> {
    const client = sdk;
    if (!client) throw new LlmError('no_api_key', `batches.${op}: no Anthropic API key configured`);
    if (keyBreaker.state() === 'open') throw new LlmError('circuit_open', `batches.${op}: LLM circuit breaker is open`, { retryable: true });
    try {
      return await fn(client);
    } catch (e) {
      if (e instanceof LlmError) throw e;
      const m = mapSdkError(e, now());
      if (m.authFailure || m.accountBlocked) keyRejected(client, m);
      throw new LlmError(m.code, `batches.${op}: ${scrub(m.message)}`, {
        ...(m.status !== undefined ? { status: m.status } : {}),
        ...(m.requestId ? { requestId: m.requestId } : {}),
        retryable: m.retryable,
        attempts: 1,
      });
    }
  }

  const batches: AnthropicClient['batches'] = {
    async create(items: BatchItem[]): Promise<string> {
      const requests = items.map((it) => ({
        custom_id: it.customId,
        params: messageParams({ model: modelFor(it.feature), system: it.system, messages: [{ role: 'user', content: it.user }], schema: it.schema, maxTokens: it.maxTokens }),
      }));
      const batch = await admin('create', (c) => c.messages.batches.create({ requests }, { maxRetries: 0 }));
      return batch.id;
    },
    async retrieve(id: string): Promise<BatchStatus> {
      return toBatchStatus(await admin('retrieve', (c) => c.messages.batches.retrieve(id, {}, { maxRetries: 0 })));
    },
    // Newest first, as the API lists them; one page per call, so a caller that found what
    // it looks for (grade-batch after an interrupted create) stops reading early.
    list(): AsyncIterable<BatchStatus> {
      return {
        async *[Symbol.asyncIterator]() {
          let page = await admin('list', (c) => c.messages.batches.list({ limit: 100 }, { maxRetries: 0 }));
          for (;;) {
            for (const b of page.data) yield toBatchStatus(b);
            if (!page.hasNextPage()) return;
            const current = page;
            page = await admin('list', () => current.getNextPage());
          }
        },
      };
    },
    results(id: string): AsyncIterable<BatchResultItem> {
      return {
        async *[Symbol.asyncIterator]() {
          const decoder = await admin('results', (c) => c.messages.batches.results(id, {}, { maxRetries: 0 }));
          for await (const line of decoder) yield toBatchResult(line);
        },
      };
    },
    async cancel(id: string): Promise<void> {
      await admin('cancel', (c) => c.messages.batches.cancel(id, {}, { maxRetries: 0 }));
    },
  };

  return {
    structured,
    countTokens,
    modelFor,
    available: (feature?: string) => sdk !== null && (feature === undefined ? keyBreaker.state() !== 'open' : stateOf(modelFor(feature)) !== 'open'),
    breakerState: (feature?: string) => {
      if (feature !== undefined) return stateOf(modelFor(feature));
      // Service-wide: the worst of the key breaker and every model's breaker.
      const states = [keyBreaker.state(), ...[...modelBreakers.values()].map((b) => b.state())];
      return states.includes('open') ? 'open' : states.includes('half_open') ? 'half_open' : 'closed';
    },
    breakerStates: () => Object.fromEntries([...modelBreakers.entries()].map(([m, b]) => [m, keyBreaker.state() === 'open' ? 'open' : b.state()])),
    keyFingerprint,
    setApiKey,
    batches,
  };
}

function toBatchStatus(b: MessageBatch): BatchStatus {
  return {
    id: b.id,
    status: b.processing_status,
    counts: {
      processing: b.request_counts.processing,
      succeeded: b.request_counts.succeeded,
      errored: b.request_counts.errored,
      canceled: b.request_counts.canceled,
      expired: b.request_counts.expired,
    },
    createdAt: b.created_at,
    endedAt: b.ended_at,
    expiresAt: b.expires_at,
  };
}

function toBatchResult(line: { custom_id: string; result: { type: string; message?: Message; error?: { error?: { type?: string } } } }): BatchResultItem {
  const base = { customId: line.custom_id };
  const r = line.result;
  if (r.type !== 'succeeded' || !r.message) {
    const error = r.type === 'errored' ? `errored:${r.error?.error?.type ?? 'unknown'}` : r.type;
    return { ...base, ok: false, error };
  }
  const m = r.message;
  const common = { messageId: m.id, model: m.model, usage: toLlmUsage(m.usage), ...(m.stop_reason ? { stopReason: m.stop_reason } : {}) };
  // As in judge(): a refusal is not the schema's JSON, and an answer cut by max_tokens or by the
  // context window is incomplete even when what arrived happens to parse.
  if (m.stop_reason === 'refusal' || m.stop_reason === 'max_tokens' || m.stop_reason === 'model_context_window_exceeded') return { ...base, ...common, ok: false, error: m.stop_reason };
  const json = parseJsonAnswer(answerText(m.content));
  if (!json.ok) return { ...base, ...common, ok: false, error: 'invalid_json' };
  return { ...base, ...common, ok: true, raw: json.value };
}

function isMessage(v: unknown): v is Message {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Partial<Message>;
  return Array.isArray(m.content) && typeof m.usage === 'object' && m.usage !== null;
}
