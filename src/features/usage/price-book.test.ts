import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../platform/policy.js';
import { PriceBook, type TokenUsage } from './price-book.js';

const usage = (o: Partial<TokenUsage>) => ({ inputTokens: 0, outputTokens: 0, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0, cacheReadTokens: 0, ...o });
const at = Date.parse('2026-11-27T00:00:00Z');

describe('PriceBook', () => {
  const book = new PriceBook(parsePolicy(undefined).prices);

  it('prices every token kind to the micro-dollar', () => {
    // haiku 4.5: $1 in, $5 out, $1.25 5m write, $2 1h write, $0.10 read per million
    const q = book.cost('claude-haiku-4-5', usage({ inputTokens: 1000, outputTokens: 200, cacheWrite5mTokens: 4000, cacheWrite1hTokens: 10, cacheReadTokens: 12345 }), at);
    expect(q.costMicros).toBe(Math.round(1000 * 1 + 200 * 5 + 4000 * 1.25 + 10 * 2 + 12345 * 0.1));
    expect(q.version).toBe('claude-haiku-4-5@2025-10-01');
  });

  it('halves batch calls', () => {
    expect(book.cost('claude-haiku-4-5', usage({ inputTokens: 1000, outputTokens: 1000 }), at, true).costMicros).toBe(3000);
  });

  it('prices US-only inference (usage.inference_geo "us") at 1.1x on Sonnet 4.6 and Opus 4.6, every token kind, batches too', () => {
    const u = usage({ inputTokens: 1000, outputTokens: 200, cacheWrite5mTokens: 400, cacheWrite1hTokens: 100, cacheReadTokens: 5000 });
    // sonnet 4.6: 1000*3 + 200*15 + 400*3.75 + 100*6 + 5000*0.3 = 9600 micro-dollars at global rates
    expect(book.cost('claude-sonnet-4-6', u, at).costMicros).toBe(9600);
    expect(book.cost('claude-sonnet-4-6', { ...u, inferenceGeo: 'global' }, at).costMicros).toBe(9600);
    expect(book.cost('claude-sonnet-4-6', { ...u, inferenceGeo: 'us' }, at).costMicros).toBe(10560);
    expect(book.cost('claude-sonnet-4-6', { ...u, inferenceGeo: 'us' }, at, true).costMicros).toBe(5280);
    expect(book.cost('claude-opus-4-6', usage({ inputTokens: 1000, outputTokens: 100, inferenceGeo: 'us' }), at).costMicros).toBe(Math.round((5000 + 2500) * 1.1));
    // Models older than Opus 4.6 cannot run US-only: no multiplier
    expect(book.cost('claude-haiku-4-5', { ...u, inferenceGeo: 'us' }, at).costMicros).toBe(book.cost('claude-haiku-4-5', u, at).costMicros);
  });

  it("bounds a US-only call's cost with the worst case (the workspace's default geo can make any call US-only)", () => {
    const worst = book.worstCaseMicros('claude-sonnet-4-6', 1000, 500, at);
    const real = book.cost('claude-sonnet-4-6', usage({ cacheWrite1hTokens: 1000, outputTokens: 500, inferenceGeo: 'us' }), at).costMicros;
    expect(worst).toBeGreaterThanOrEqual(real);
  });

  it('takes the newest price that is already effective', () => {
    const b = new PriceBook([
      { model: 'm', effective: '2026-01-01', input: 1, output: 1, cacheWrite5m: 1, cacheWrite1h: 1, cacheRead: 1, batchDiscount: 0.5 },
      { model: 'm', effective: '2026-12-01', input: 2, output: 2, cacheWrite5m: 2, cacheWrite1h: 2, cacheRead: 2, batchDiscount: 0.5 },
    ]);
    expect(b.cost('m', usage({ inputTokens: 10 }), at).costMicros).toBe(10);
    expect(b.cost('m', usage({ inputTokens: 10 }), Date.parse('2026-12-02')).costMicros).toBe(20);
  });

  it("lets the policy file correct a built-in price at the built-in price's own date (the file's come later)", () => {
    const builtIn = parsePolicy({}, 'test').prices.find((p) => p.model === 'claude-haiku-4-5')!;
    const policy = parsePolicy({ prices: [{ ...builtIn, input: 2 }] }, 'test');
    const corrected = new PriceBook(policy.prices);
    expect(corrected.priceAt('claude-haiku-4-5', at).input).toBe(2);
    expect(corrected.cost('claude-haiku-4-5', usage({ inputTokens: 1000 }), at).costMicros).toBe(2000);
  });

  it("prices a dated model id (what the API answers with, and what batch results carry) at its alias's price", () => {
    const u = usage({ inputTokens: 1000, outputTokens: 100, cacheReadTokens: 50 });
    const dated = book.cost('claude-haiku-4-5-20251001', u, at, true);
    expect(dated).toEqual(book.cost('claude-haiku-4-5', u, at, true));
    // an id that is only a date away from a priced one, not a different model
    expect(() => book.cost('claude-haiku-4-5-x-20251001', u, at)).toThrow(/no price/);
  });

  it('prefers a price written for the dated id itself', () => {
    const p = { cacheWrite5m: 1, cacheWrite1h: 1, cacheRead: 1, batchDiscount: 0.5 };
    const b = new PriceBook([
      { model: 'm', effective: '2026-01-01', input: 1, output: 1, ...p },
      { model: 'm-20260101', effective: '2026-01-01', input: 3, output: 3, ...p },
    ]);
    expect(b.cost('m-20260101', usage({ inputTokens: 10 }), at)).toEqual({ version: 'm-20260101@2026-01-01', costMicros: 30 });
    expect(b.cost('m-20260202', usage({ inputTokens: 10 }), at)).toEqual({ version: 'm@2026-01-01', costMicros: 10 });
  });

  it('never prices an unknown model at zero', () => {
    expect(() => book.cost('claude-unknown', usage({ inputTokens: 1 }), at)).toThrow(/no price/);
  });

  it('bounds the worst case from above', () => {
    const worst = book.worstCaseMicros('claude-haiku-4-5', 1000, 500, at);
    const real = book.cost('claude-haiku-4-5', usage({ inputTokens: 200, cacheWrite1hTokens: 800, outputTokens: 500 }), at).costMicros;
    expect(worst).toBeGreaterThanOrEqual(real);
  });
});
