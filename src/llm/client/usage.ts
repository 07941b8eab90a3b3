// SDK usage → our usage. The 5m/1h split matters for cost: 1h cache writes cost 2x input, 5m ones 1.25x.
import type { LlmUsage } from './types.js';

interface SdkUsageLike {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation?: { ephemeral_5m_input_tokens?: number | null; ephemeral_1h_input_tokens?: number | null } | null;
  inference_geo?: string | null;
}

export function emptyUsage(): LlmUsage {
  return { inputTokens: 0, outputTokens: 0, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0, cacheReadTokens: 0 };
}

export function toLlmUsage(u: SdkUsageLike | null | undefined): LlmUsage {
  if (!u) return emptyUsage();
  const created = u.cache_creation_input_tokens ?? 0;
  const split = u.cache_creation;
  let w5 = created;
  let w1 = 0;
  if (split && (split.ephemeral_5m_input_tokens != null || split.ephemeral_1h_input_tokens != null)) {
    w5 = split.ephemeral_5m_input_tokens ?? 0;
    w1 = split.ephemeral_1h_input_tokens ?? 0;
    // The breakdown can lag the cumulative total in a stream (message_delta updates only the total):
    // bill the difference as 5m, the cheaper and default TTL, rather than drop it.
    if (w5 + w1 < created) w5 += created - (w5 + w1);
  }
  return {
    inputTokens: u.input_tokens ?? 0,
    outputTokens: u.output_tokens ?? 0,
    cacheWrite5mTokens: w5,
    cacheWrite1hTokens: w1,
    cacheReadTokens: u.cache_read_input_tokens ?? 0,
    // Where inference ran decides the rate (US-only costs more on the newest models); a
    // workspace default applies even though our requests never name a geo.
    ...(typeof u.inference_geo === 'string' && u.inference_geo !== '' ? { inferenceGeo: u.inference_geo } : {}),
  };
}

export function addUsage(a: LlmUsage, b: LlmUsage): LlmUsage {
  // One call's attempts run in one workspace, so they share a geo; keep whichever reported it.
  const geo = b.inferenceGeo ?? a.inferenceGeo;
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    cacheWrite5mTokens: a.cacheWrite5mTokens + b.cacheWrite5mTokens,
    cacheWrite1hTokens: a.cacheWrite1hTokens + b.cacheWrite1hTokens,
    cacheReadTokens: a.cacheReadTokens + b.cacheReadTokens,
    ...(geo !== undefined ? { inferenceGeo: geo } : {}),
  };
}
