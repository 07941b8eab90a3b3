import type { Registry } from 'prom-client';

export const FIGURE_METRICS = {
  cacheRequests: 'tutorgate_cache_requests_total',
  cacheSavedTokens: 'tutorgate_cache_saved_tokens_total',
  cacheSavedUsd: 'tutorgate_cache_saved_usd_total',
  limiterDecisions: 'tutorgate_ratelimit_decisions_total',
  premiumRequests: 'tutorgate_premium_requests_total',
} as const;

const TOP_REASONS = 5;

export interface CacheFeatureFigures {
  feature: string;
  hits: number;
  misses: number;
  savedTokens: number;
  savedUsd: number;
}

export interface OpsFigures {
  cache: { byFeature: CacheFeatureFigures[]; savedTokens: number; savedUsd: number };
  limiter: { byTier: { tier: string; allowed: number; rejected: number }[] };
  premium: { bySource: Record<string, number>; topFallbackReasons: { reason: string; count: number }[] };
}

type Sample = { value: number; labels: Record<string, string | number | undefined> };

// A counter's samples, or none when it is not registered (a registry built without
// that feature, as in some tests); the dashboard then shows zeros rather than failing.
async function samples(registry: Pick<Registry, 'getSingleMetric'>, name: string): Promise<Sample[]> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return [];
  const { values } = await metric.get();
  return values.map((v) => ({ value: Number(v.value) || 0, labels: v.labels as Sample['labels'] }));
}

const label = (s: Sample, name: string) => String(s.labels[name] ?? 'unknown');
const byName = <T extends object>(rows: Map<string, T>, key: keyof T) => [...rows.values()].sort((a, b) => String(a[key]).localeCompare(String(b[key])));

// The dashboard's operating figures, read from this instance's Prometheus counters, so
// the page and /metrics can never disagree. Counters reset on restart, as /metrics does.
export async function readOpsFigures(registry: Pick<Registry, 'getSingleMetric'>): Promise<OpsFigures> {
  const [requests, savedTokens, savedUsd, decisions, premium] = await Promise.all(
    [FIGURE_METRICS.cacheRequests, FIGURE_METRICS.cacheSavedTokens, FIGURE_METRICS.cacheSavedUsd, FIGURE_METRICS.limiterDecisions, FIGURE_METRICS.premiumRequests].map((n) => samples(registry, n)),
  ) as [Sample[], Sample[], Sample[], Sample[], Sample[]];

  const cache = new Map<string, CacheFeatureFigures>();
  const cacheRow = (feature: string) => {
    let row = cache.get(feature);
    if (!row) cache.set(feature, (row = { feature, hits: 0, misses: 0, savedTokens: 0, savedUsd: 0 }));
    return row;
  };
  for (const s of requests) {
    const result = label(s, 'result');
    if (result === 'hit') cacheRow(label(s, 'feature')).hits += s.value;
    else if (result === 'miss') cacheRow(label(s, 'feature')).misses += s.value;
  }
  for (const s of savedTokens) cacheRow(label(s, 'feature')).savedTokens += s.value;
  for (const s of savedUsd) cacheRow(label(s, 'feature')).savedUsd += s.value;

  const tiers = new Map<string, { tier: string; allowed: number; rejected: number }>();
  for (const s of decisions) {
    const tier = label(s, 'tier');
    const row = tiers.get(tier) ?? { tier, allowed: 0, rejected: 0 };
    tiers.set(tier, row);
    if (label(s, 'outcome') === 'allowed') row.allowed += s.value;
    else if (label(s, 'outcome') === 'rejected') row.rejected += s.value;
  }

  // Every source is listed, even at zero, so the page's layout does not jump around.
  const sources = new Map<string, number>([['llm', 0], ['cache', 0], ['rules', 0], ['refused', 0]]);
  const reasons = new Map<string, number>();
  for (const s of premium) {
    const source = label(s, 'source');
    sources.set(source, (sources.get(source) ?? 0) + s.value);
    const reason = label(s, 'reason');
    // "none" marks answers that did not fall back (llm, cache).
    if (reason !== 'none' && s.value > 0) reasons.set(reason, (reasons.get(reason) ?? 0) + s.value);
  }
  const topFallbackReasons = [...reasons]
    .map(([reason, count]) => ({ reason, count }))
    .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason))
    .slice(0, TOP_REASONS);

  const features = byName(cache, 'feature');
  return {
    cache: {
      byFeature: features,
      savedTokens: features.reduce((sum, f) => sum + f.savedTokens, 0),
      // Summed in micro-dollars and rounded back, so float noise does not show as $0.30000000000000004.
      savedUsd: Math.round(features.reduce((sum, f) => sum + f.savedUsd * 1e6, 0)) / 1e6,
    },
    limiter: { byTier: byName(tiers, 'tier') },
    premium: { bySource: Object.fromEntries(sources), topFallbackReasons },
  };
}
