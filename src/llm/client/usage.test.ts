import { describe, expect, it } from 'vitest';
import { addUsage, emptyUsage, toLlmUsage } from './usage.js';

describe('toLlmUsage', () => {
  it('uses the 5m/1h breakdown when present', () => {
    expect(
      toLlmUsage({ input_tokens: 10, output_tokens: 20, cache_creation_input_tokens: 300, cache_read_input_tokens: 40, cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 200 } }),
    ).toEqual({ inputTokens: 10, outputTokens: 20, cacheWrite5mTokens: 100, cacheWrite1hTokens: 200, cacheReadTokens: 40 });
  });
  it('without a breakdown, counts cache writes as 5m (the default TTL)', () => {
    expect(toLlmUsage({ input_tokens: 1, output_tokens: 2, cache_creation_input_tokens: 50, cache_read_input_tokens: null, cache_creation: null })).toEqual({
      inputTokens: 1,
      outputTokens: 2,
      cacheWrite5mTokens: 50,
      cacheWrite1hTokens: 0,
      cacheReadTokens: 0,
    });
  });
  it('never drops cache-write tokens when the cumulative total outgrew the breakdown', () => {
    const u = toLlmUsage({ cache_creation_input_tokens: 120, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 100 } });
    expect(u.cacheWrite5mTokens + u.cacheWrite1hTokens).toBe(120);
    expect(u.cacheWrite1hTokens).toBe(100);
  });
  it('keeps where inference ran (US-only is billed at a premium), through addUsage too', () => {
    const us = toLlmUsage({ input_tokens: 5, output_tokens: 1, inference_geo: 'us' });
    expect(us.inferenceGeo).toBe('us');
    expect(toLlmUsage({ input_tokens: 5, inference_geo: null }).inferenceGeo).toBeUndefined();
    // a broken stream's partial usage plus the retry's answer: one call, one geo
    expect(addUsage(toLlmUsage({ input_tokens: 5 }), us).inferenceGeo).toBe('us');
    expect(addUsage(us, toLlmUsage({ input_tokens: 5 })).inferenceGeo).toBe('us');
  });
  it('adds', () => {
    const a = toLlmUsage({ input_tokens: 1, output_tokens: 2 });
    expect(addUsage(a, a)).toMatchObject({ inputTokens: 2, outputTokens: 4 });
    expect(toLlmUsage(null)).toEqual(emptyUsage());
  });
});
