import { Counter, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import { DAY_MS, type Clock } from '../../platform/clock.js';
import { parseDuration } from '../../platform/duration.js';
import { RETENTION_KINDS, type RetentionKind, type RetentionPolicy } from '../../platform/policy.schema.js';
import { repeatEvery } from '../../platform/repeat-every.js';
import type { GradingRepository } from '../grading/grading.repository.js';
import type { Catalog } from '../learning-path/catalog.schema.js';
import { foldOldEvents, type LearnerModel } from '../learning-path/learner-model.js';
import type { LearningRepository } from '../learning-path/learning.repository.js';
import type { BudgetRepository } from '../usage/budget.repository.js';

// Rows per statement (and events per learner per transaction). On SQLite a delete runs on
// the serving connection and holds the write lock while it runs: on 100,000-row tables a
// batch of 500 evaluations took a median 3.9 ms against 17 ms for 1,000 and 2.3 ms for 250
// (bench/retention.bench.ts, docs/benchmarks.md), so no request waits long behind one,
// and the loop yields between batches.
export const RETENTION_BATCH = 500;

export type RetentionCounts = Record<RetentionKind, number>;

export interface RetentionReport {
  dryRun: boolean;
  // The cut-off per kind (rows created before it go), null where the policy keeps everything.
  before: Record<RetentionKind, string | null>;
  // Deleted, or with dryRun what would be.
  deleted: RetentionCounts;
}

export interface RetentionDeps {
  policy: RetentionPolicy | undefined;
  grading: Pick<GradingRepository, 'deleteEvaluationsBefore' | 'countEvaluationsBefore'>;
  learning: Pick<LearningRepository, 'learnersWithEventsBefore' | 'countEventsBefore' | 'getBase' | 'eventsBefore' | 'foldEvents' | 'deleteRecommendationsBefore' | 'countRecommendationsBefore'>;
  learners: Pick<LearnerModel, 'kt' | 'skillsOf'>;
  budgets: Pick<BudgetRepository, 'deleteUserBudgetsBefore' | 'countUserBudgetsBefore'>;
  catalog: () => Promise<Catalog>;
  clock: Clock;
  logger: Pick<Logger, 'info'>;
  metrics?: RetentionMetrics;
  batch?: number;
}

export interface RetentionMetrics {
  deleted(kind: RetentionKind, n: number): void;
}

export function registerRetentionMetrics(registry: Registry): RetentionMetrics {
  const deleted = new Counter({
    name: 'tutorgate_retention_deleted_total',
    help: 'Rows of learners personal data deleted by the retention job for outliving the policy period, by kind (evaluations, calibrationSet, progressEvents folded into the learner state first, recommendations, userBudgets: monthly budget counters and notices of users).',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  for (const kind of RETENTION_KINDS) deleted.inc({ kind }, 0); // every series from the first scrape, so rate() sees the first deletion
  return { deleted: (kind, n) => deleted.inc({ kind }, n) };
}

const zero = (): RetentionCounts => ({ evaluations: 0, calibrationSet: 0, progressEvents: 0, recommendations: 0, userBudgets: 0 });
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

// Deletes learners' personal data older than the policy's period per kind (ADR 0017), in
// batches of RETENTION_BATCH rows, oldest first, one statement or one learner's fold at a
// time, so a first run on a large table never holds a long transaction. Safe to run on
// every instance at once: deletes of rows already gone delete nothing, and a fold
// compares-and-sets the baseline it folded into.
export class RetentionService {
  private current: Promise<RetentionReport> | undefined;
  private stopping = false;

  constructor(private readonly d: RetentionDeps) {}

  configured(): boolean {
    return RETENTION_KINDS.some((k) => this.d.policy?.[k] !== undefined);
  }

  // One run at a time per instance: a run asked for while one is going joins it.
  run(opts: { dryRun?: boolean } = {}): Promise<RetentionReport> {
    if (this.current && !opts.dryRun) return this.current;
    const run = this.runOnce(opts.dryRun ?? false);
    if (opts.dryRun) return run;
    this.current = run.finally(() => (this.current = undefined));
    return this.current;
  }

  // Ends a run after its current batch; what it has deleted stays deleted.
  async stop(): Promise<void> {
    this.stopping = true;
    await this.current?.catch(() => undefined);
  }

  private async runOnce(dryRun: boolean): Promise<RetentionReport> {
    const started = this.d.clock.now();
    const before = {} as Record<RetentionKind, number | null>;
    for (const k of RETENTION_KINDS) {
      const period = this.d.policy?.[k];
      before[k] = period === undefined ? null : started - parseDuration(period)!;
    }
    const deleted = zero();
    for (const kind of RETENTION_KINDS) {
      const cut = before[kind];
      if (cut === null || this.stopping) continue;
      deleted[kind] = dryRun ? await this.count(kind, cut) : await this.purge(kind, cut);
    }
    const report: RetentionReport = { dryRun, before: Object.fromEntries(RETENTION_KINDS.map((k) => [k, before[k] === null ? null : new Date(before[k]!).toISOString()])) as RetentionReport['before'], deleted };
    // Counts and cut-offs only: never an id, an answer or anything else about a learner.
    this.d.logger.info({ retention: { dryRun, deleted, keptDays: this.keptDays(), ms: this.d.clock.now() - started } }, dryRun ? 'retention dry run' : 'retention run');
    return report;
  }

  private keptDays(): Partial<Record<RetentionKind, number>> {
    const out: Partial<Record<RetentionKind, number>> = {};
    for (const k of RETENTION_KINDS) {
      const p = this.d.policy?.[k];
      if (p !== undefined) out[k] = parseDuration(p)! / DAY_MS;
    }
    return out;
  }

  private count(kind: RetentionKind, cut: number): Promise<number> {
    switch (kind) {
      case 'evaluations':
        return this.d.grading.countEvaluationsBefore('ordinary', cut);
      case 'calibrationSet':
        return this.d.grading.countEvaluationsBefore('calibration', cut);
      case 'progressEvents':
        return this.d.learning.countEventsBefore(cut);
      case 'recommendations':
        return this.d.learning.countRecommendationsBefore(cut);
      case 'userBudgets':
        return this.d.budgets.countUserBudgetsBefore(cut);
    }
  }

  private async purge(kind: RetentionKind, cut: number): Promise<number> {
    const batch = this.d.batch ?? RETENTION_BATCH;
    const step = await this.stepFor(kind, cut, batch);
    let total = 0;
    while (!this.stopping) {
      const n = await step();
      if (n > 0) {
        total += n;
        this.d.metrics?.deleted(kind, n);
      }
      // Fewer than a batch: nothing older is left (or another instance took the rest).
      if (n < (kind === 'progressEvents' ? 1 : batch)) break;
      await nextTurn(); // let requests in between batches
    }
    return total;
  }

  private async stepFor(kind: RetentionKind, cut: number, batch: number): Promise<() => Promise<number>> {
    const { grading, learning } = this.d;
    switch (kind) {
      case 'evaluations':
        return () => grading.deleteEvaluationsBefore('ordinary', cut, batch);
      case 'calibrationSet':
        return () => grading.deleteEvaluationsBefore('calibration', cut, batch);
      case 'recommendations':
        return () => learning.deleteRecommendationsBefore(cut, batch);
      case 'userBudgets':
        return () => this.d.budgets.deleteUserBudgetsBefore(cut, batch);
      case 'progressEvents': {
        // Events are not deleted but folded into each learner's baseline first, so mastery
        // and every later replay are unchanged (learner-model.ts).
        const catalog = await this.d.catalog();
        const fold = { repo: learning, learners: this.d.learners, now: () => this.d.clock.now() };
        return async () => {
          let n = 0;
          for (const userId of await learning.learnersWithEventsBefore(cut, batch)) {
            if (this.stopping) break;
            n += await foldOldEvents(fold, userId, cut, catalog, batch);
          }
          return n;
        };
      }
    }
  }
}

// The schedule: every `every` of the policy, and once `firstAfterMs` after start-up (not at
// once: start-up is when an instance is busiest, and every instance of a deploy restarts
// together). Failures are logged and the schedule goes on.
export function startRetention(service: RetentionService, opts: { everyMs: number; firstAfterMs: number; logger: Pick<Logger, 'warn'> }): { stop(): Promise<void> } {
  const runLogged = async () => {
    try {
      await service.run();
    } catch (err) {
      opts.logger.warn({ err: { message: (err as Error).message } }, 'retention run failed; retrying at the next run');
    }
  };
  const first = setTimeout(() => void runLogged(), opts.firstAfterMs);
  first.unref();
  const repeating = repeatEvery(opts.everyMs, runLogged);
  return {
    async stop() {
      clearTimeout(first);
      repeating.stop();
      await service.stop();
    },
  };
}
