import { systemClock, type Clock } from '../../platform/clock.js';

// In-memory counters behind the admin API's "who sees what" view: totals since
// start plus per-minute buckets for the last hour, by flag and variant.
// An evaluation is any lookup; an exposure is one that actually served the
// feature (enabled, with its variant) — the number experiments are judged on.

export interface FlagCount {
  evaluations: number;
  exposures: number;
}

export interface FlagAnalyticsSnapshot {
  since: string;
  at: string;
  flags: Record<
    string,
    FlagCount & {
      variants: Record<string, FlagCount>;
      reasons: Record<string, number>;
      minutes: (FlagCount & { minute: string; variants: Record<string, FlagCount> })[]; // oldest first
    }
  >;
}

export interface FlagAnalyticsRecord {
  flag: string;
  variant: string; // 'on' / 'off' for plain flags, the variant key for experiments, 'none' on errors
  reason: string;
  exposed: boolean;
}

interface Series extends FlagCount {
  variants: Map<string, FlagCount>;
}

const OTHER = '(other)';
const MINUTE = 60_000;

export class FlagAnalytics {
  private readonly clock: Clock;
  private readonly retentionMinutes: number;
  private readonly maxFlags: number;
  private readonly maxVariants: number;
  private readonly since: number;
  private totals = new Map<string, Series & { reasons: Map<string, number> }>();
  private minutes = new Map<number, Map<string, Series>>(); // minute start (ms) → flag → counts

  constructor(opts: { clock?: Clock; retentionMinutes?: number; maxFlags?: number; maxVariants?: number } = {}) {
    this.clock = opts.clock ?? systemClock;
    this.retentionMinutes = opts.retentionMinutes ?? 60;
    // Callers can ask for any key (typos included); caps keep memory bounded.
    this.maxFlags = opts.maxFlags ?? 500;
    this.maxVariants = opts.maxVariants ?? 50;
    this.since = this.clock.now();
  }

  record(r: FlagAnalyticsRecord): void {
    const now = this.clock.now();
    const flag = this.totals.has(r.flag) || this.totals.size < this.maxFlags ? r.flag : OTHER;
    let total = this.totals.get(flag);
    if (!total) {
      total = { evaluations: 0, exposures: 0, variants: new Map(), reasons: new Map() };
      this.totals.set(flag, total);
    }
    const variant = total.variants.has(r.variant) || total.variants.size < this.maxVariants ? r.variant : OTHER;
    bump(total, variant, r.exposed);
    total.reasons.set(r.reason, (total.reasons.get(r.reason) ?? 0) + 1);

    const minute = now - (now % MINUTE);
    let byFlag = this.minutes.get(minute);
    if (!byFlag) {
      byFlag = new Map();
      this.minutes.set(minute, byFlag);
      this.prune(minute);
    }
    let series = byFlag.get(flag);
    if (!series) {
      series = { evaluations: 0, exposures: 0, variants: new Map() };
      byFlag.set(flag, series);
    }
    bump(series, variant, r.exposed);
  }

  snapshot(): FlagAnalyticsSnapshot {
    const now = this.clock.now();
    this.prune(now - (now % MINUTE));
    const minuteKeys = [...this.minutes.keys()].sort((a, b) => a - b);
    // fromEntries, not assignment: a caller-supplied key like "__proto__" must stay a plain entry.
    const flags: FlagAnalyticsSnapshot['flags'] = Object.fromEntries(
      [...this.totals]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([flag, t]) => {
          const minutes: FlagAnalyticsSnapshot['flags'][string]['minutes'] = [];
          for (const m of minuteKeys) {
            const s = this.minutes.get(m)?.get(flag);
            if (s) minutes.push({ minute: new Date(m).toISOString(), ...countsOf(s) });
          }
          return [flag, { ...countsOf(t), reasons: Object.fromEntries(t.reasons), minutes }];
        }),
    );
    return { since: new Date(this.since).toISOString(), at: new Date(now).toISOString(), flags };
  }

  reset(): void {
    this.totals.clear();
    this.minutes.clear();
  }

  private prune(currentMinute: number): void {
    const oldest = currentMinute - (this.retentionMinutes - 1) * MINUTE;
    for (const m of this.minutes.keys()) if (m < oldest) this.minutes.delete(m);
  }
}

function bump(s: Series, variant: string, exposed: boolean): void {
  s.evaluations++;
  if (exposed) s.exposures++;
  let v = s.variants.get(variant);
  if (!v) {
    v = { evaluations: 0, exposures: 0 };
    s.variants.set(variant, v);
  }
  v.evaluations++;
  if (exposed) v.exposures++;
}

function countsOf(s: Series): FlagCount & { variants: Record<string, FlagCount> } {
  return {
    evaluations: s.evaluations,
    exposures: s.exposures,
    variants: Object.fromEntries([...s.variants].map(([k, v]) => [k, { ...v }])),
  };
}
