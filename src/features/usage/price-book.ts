import { isoDay } from '../../platform/clock.js';
import type { PricePolicy } from '../../platform/policy.schema.js';

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cacheWrite5mTokens: number;
  cacheWrite1hTokens: number;
  cacheReadTokens: number;
  inferenceGeo?: string; // "us": US-only inference, billed at the price's usOnlyMultiplier
}

export const ZERO_USAGE: TokenUsage = Object.freeze({ inputTokens: 0, outputTokens: 0, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0, cacheReadTokens: 0 });

export interface PriceQuote {
  version: string; // model@effective: which price row was applied, kept on every ledger row
  costMicros: number;
}

export class UnknownPriceError extends Error {}

const DATED_SUFFIX = /-\d{8}$/;

// Prices are USD per million tokens, so one token costs `price` micro-dollars; the
// total is rounded once, to the micro-dollar.
export class PriceBook {
  private readonly byModel = new Map<string, PricePolicy[]>();

  constructor(prices: readonly PricePolicy[]) {
    // A later price of the same model and date replaces the earlier one: the policy file's
    // prices come after the built-in ones, and an operator correcting a built-in price at
    // its own date was ignored (the built-in row was found first).
    for (const p of prices) {
      const list = (this.byModel.get(p.model) ?? []).filter((x) => x.effective !== p.effective);
      list.push(p);
      list.sort((a, b) => b.effective.localeCompare(a.effective));
      this.byModel.set(p.model, list);
    }
  }

  // The newest price whose effective date has come. The API answers with the dated id of the
  // model an alias names (`claude-haiku-4-5` → `claude-haiku-4-5-20251001`, e.g. in batch
  // results), so a dated id without a price of its own takes its alias's.
  priceAt(model: string, atMs: number): PricePolicy {
    const day = isoDay(atMs);
    const list = this.byModel.get(model) ?? this.byModel.get(model.replace(DATED_SUFFIX, ''));
    const p = list?.find((x) => x.effective <= day) ?? list?.at(-1);
    if (!p) throw new UnknownPriceError(`no price for model "${model}"`);
    return p;
  }

  cost(model: string, usage: TokenUsage, atMs: number, batch = false): PriceQuote {
    const p = this.priceAt(model, atMs);
    const raw =
      usage.inputTokens * p.input +
      usage.outputTokens * p.output +
      usage.cacheWrite5mTokens * p.cacheWrite5m +
      usage.cacheWrite1hTokens * p.cacheWrite1h +
      usage.cacheReadTokens * p.cacheRead;
    // The multipliers stack: US-only inference on every rate, then the batch discount.
    const geo = usage.inferenceGeo === 'us' ? (p.usOnlyMultiplier ?? 1) : 1;
    const factor = geo * (batch ? 1 - p.batchDiscount : 1);
    return { version: `${p.model}@${p.effective}`, costMicros: Math.round(raw * factor) };
  }

  // Worst case for a call: every input token at the dearest input rate (a cache write
  // costs more than plain input), the whole max_tokens as output, and US-only inference
  // (the workspace's default geo decides it, not the request, so it cannot be ruled out).
  worstCaseMicros(model: string, inputTokens: number, maxOutputTokens: number, atMs: number): number {
    const p = this.priceAt(model, atMs);
    const inRate = Math.max(p.input, p.cacheWrite5m, p.cacheWrite1h);
    return Math.ceil((inputTokens * inRate + maxOutputTokens * p.output) * (p.usOnlyMultiplier ?? 1));
  }
}

export const usdFromMicros = (micros: number) => micros / 1e6;
export const microsFromUsd = (usd: number) => Math.round(usd * 1e6);
