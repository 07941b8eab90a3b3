import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/platform/policy.js';
import { DeferredWork } from '../../src/platform/deferred-work.js';
import type { AnthropicClient, LlmCallRecord, StructuredRequest } from '../../src/llm/client/types.js';
import type { Principal } from '../../src/features/identity/identity.types.js';
import { createMemoryRateLimiter } from '../../src/features/limits/memory-rate-limiter.js';
import { PremiumPipeline } from '../../src/features/premium/premium-pipeline.js';
import { MeteringService } from '../../src/features/usage/metering.service.js';
import { PriceBook } from '../../src/features/usage/price-book.js';
import { insertUsers, openTestStore, type TestStore } from '../helpers/databases.js';
import { ManualClock } from '../helpers/test-app.js';
import { expectCountersMatchLedger, readLedger } from '../faults/ledger-invariants.js';

// A premium call names its budget periods (user month, feature and global day) before the
// awaits that precede its reservation (the input-token count, the limiter). The ledger row and
// the daily roll-up must fall in the periods the budgets were charged for, even when midnight
// UTC passes in between.
describe('budget periods across midnight', () => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await openTestStore('sqlite');
    await insertUsers(ts.store.db, ['u-midnight']);
  });
  afterAll(() => ts.cleanup());

  it('books a call reserved in the last moments of a month in that month, where its budgets were charged', async () => {
    const policy = parsePolicy(undefined);
    const clock = new ManualClock(Date.parse('2026-11-30T23:59:59.900Z'));
    const prices = new PriceBook(policy.prices);
    const metering = new MeteringService(ts.store, prices, clock);
    const deferred = new DeferredWork((err) => {
      throw err;
    });
    const record: LlmCallRecord = {
      feature: 'grading',
      model: 'claude-haiku-4-5',
      messageId: 'msg_midnight',
      attempts: 1,
      retries: 0,
      latencyMs: 5,
      usage: { inputTokens: 400, outputTokens: 80, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0, cacheReadTokens: 0 },
      outcome: 'ok',
    };
    const llm: Pick<AnthropicClient, 'structured' | 'available' | 'modelFor' | 'breakerState'> = {
      available: () => true,
      breakerState: () => 'closed',
      modelFor: () => 'claude-haiku-4-5',
      async structured<T>(req: StructuredRequest<T>) {
        const parsed = req.parse({ answer: 'ok' });
        if (!parsed.ok) throw new Error('invalid');
        return { value: parsed.value, calls: [record], model: 'claude-haiku-4-5' };
      },
    };
    const pipeline = new PremiumPipeline({
      policy,
      clock,
      flags: { evaluate: (key) => ({ key, enabled: true, reason: 'STATIC', rolloutInForce: 100, bucket: 0 }) },
      limiter: createMemoryRateLimiter({ now: () => clock.now() }),
      llm,
      // The count of the prompt's tokens takes a moment, in which the month ends.
      inputTokens: {
        estimate: async () => {
          clock.advance(200);
          return 500;
        },
      },
      metering,
      deferred,
      prices,
      overrides: async () => undefined,
    });
    const principal: Principal = { userId: 'u-midnight', roles: ['learner'], tier: 'premium', entitlements: ['grading', 'learning_path'], via: 'api_key' };
    const out = await pipeline.run({
      feature: 'grading',
      principal,
      rules: () => 'rules',
      llm: {
        template: { id: 't', version: 1 },
        prompt: () => ({ system: [{ text: 'Grade.' }], user: 'answer', schema: { type: 'object' } }),
        parse: (raw) => ({ ok: true, value: (raw as { answer: string }).answer }),
        maxTokens: 100,
      },
    });
    expect(out.source).toBe('llm');
    await deferred.drain();

    const ledger = await readLedger(ts.store.db);
    expect(ledger.rows.map((r) => [r.status, r.day])).toEqual([['settled', '2026-11-30']]);
    expect(ledger.counters.map((c) => c.key).sort()).toEqual(['feature:grading:2026-11-30', 'global:2026-11-30', 'user:u-midnight:2026-11']);
    expectCountersMatchLedger(ledger);
    const daily = await ts.store.db.selectFrom('usage_daily').select(['day', 'cost_micros']).execute();
    expect(daily.map((d) => [d.day, Number(d.cost_micros)])).toEqual([['2026-11-30', ledger.rows[0]!.cost_micros]]);
  });
});
