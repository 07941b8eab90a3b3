import { DAY_MS, type Clock } from '../../platform/clock.js';
import { NotFoundError } from '../../platform/errors.js';
import type { UsageAnalyticsRepository } from '../usage/usage-analytics.repository.js';
import { analyzeExperiment, type ExperimentAnalysis } from './ab-analysis.js';
import type { LearningRepository } from './learning.repository.js';

export interface ExperimentReport {
  experiment: string;
  windowDays: number;
  /**
   * By first variant: every exposed learner counts in the variant they were first served
   * (intention to treat). `switched`: those later served another variant (a changed rollout,
   * ramp or split moves learners, since assignment is by hash, not sticky). They stay in: only
   * the learners who came back are seen to switch, so leaving them out would tie the arms to
   * activity; a large share of them dilutes the difference towards zero, which this shows.
   */
  learners: Record<string, { exposed: number; withOutcome: number; switched: number; costPerLearnerUsd: number }>;
  // Outcome: each learner's success rate on items recommended in the window and attempted
  // after the recommendation. Only the window is read: a report never depends on rows older
  // than it (which retention may have deleted), and its cost is bounded by the window.
  analysis: ExperimentAnalysis | null;
}

export class ExperimentAnalysisService {
  constructor(
    private readonly repo: Pick<LearningRepository, 'exposures' | 'recommendationsFor' | 'exposedEventsSince'>,
    private readonly usage: Pick<UsageAnalyticsRepository, 'costByUser'>,
    private readonly clock: Clock,
    /** Is this key an experiment (a flag) now? One the policy no longer declares keeps its report. */
    private readonly isExperiment: (key: string) => boolean,
  ) {}

  async report(experiment: string, windowDays = 30): Promise<ExperimentReport> {
    const since = this.clock.now() - windowDays * DAY_MS;
    const [exposures, recs, events, cost] = await Promise.all([
      this.repo.exposures(experiment),
      this.repo.recommendationsFor(experiment, since),
      this.repo.exposedEventsSince(experiment, since),
      this.usage.costByUser(experiment, since),
    ]);
    if (exposures.length === 0 && !this.isExperiment(experiment)) throw new NotFoundError('Experiment');
    const recommended = new Map<string, Map<string, number>>(); // user → item → first time recommended
    const servedVariants = new Map<string, Set<string | null>>();
    for (const r of recs) {
      const v = servedVariants.get(r.userId) ?? new Set<string | null>();
      v.add(r.variant);
      servedVariants.set(r.userId, v);
      const m = recommended.get(r.userId) ?? new Map<string, number>();
      for (const id of r.itemIds) if (!m.has(id) || m.get(id)! > r.at) m.set(id, r.at);
      recommended.set(r.userId, m);
    }
    const tally = new Map<string, { n: number; ok: number }>();
    for (const e of events) {
      const at = recommended.get(e.user_id)?.get(e.item_id);
      if (at === undefined || Number(e.at) < at) continue;
      const t = tally.get(e.user_id) ?? { n: 0, ok: 0 };
      t.n++;
      t.ok += e.correct;
      tally.set(e.user_id, t);
    }
    // Keyed by variant, which may be any variant key, "__proto__" included: no prototype.
    const learners = Object.create(null) as ExperimentReport['learners'];
    const outcomes: { variant: string; value: number }[] = [];
    for (const x of exposures) {
      const l = (learners[x.variant] ??= { exposed: 0, withOutcome: 0, switched: 0, costPerLearnerUsd: 0 });
      l.exposed++;
      l.costPerLearnerUsd += (cost.get(x.userId) ?? 0) / 1e6;
      if ([...(servedVariants.get(x.userId) ?? [])].some((v) => v !== x.variant)) l.switched++;
      const t = tally.get(x.userId);
      if (t && t.n > 0) {
        l.withOutcome++;
        outcomes.push({ variant: x.variant, value: t.ok / t.n });
      }
    }
    for (const l of Object.values(learners)) l.costPerLearnerUsd = l.exposed ? l.costPerLearnerUsd / l.exposed : 0;
    const variants = new Set(outcomes.map((o) => o.variant));
    // The control is `control` (the arm the rules answer), else the first variant by name: rows
    // come in no fixed order, and "the first seen" could change between two reports.
    const control = variants.has('control') ? 'control' : [...variants].sort()[0];
    outcomes.sort((a, b) => (a.variant < b.variant ? -1 : a.variant > b.variant ? 1 : 0));
    const analysis = variants.size >= 2 ? analyzeExperiment(outcomes, { control }) : null;
    return { experiment, windowDays, learners, analysis };
  }
}
