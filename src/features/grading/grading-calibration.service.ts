import { Gauge, type Registry } from 'prom-client';
import type { Clock } from '../../platform/clock.js';
import { newId } from '../../platform/ids.js';
import type { Principal } from '../identity/identity.types.js';
import type { GradingService } from './grading.service.js';
import type { GradingRepository } from './grading.repository.js';
import { exactAgreement, quadraticWeightedKappa } from './grade-agreement.js';
import { GRADING_TEMPLATE_VERSION } from './grading-prompt.js';
import { maxScore, scoreFromLevels } from './rubric.schema.js';

export const CALIBRATION_GAUGE_REFRESH_MS = 60_000;

// Calibration calls are metered like any other, under this system principal.
export const CALIBRATION_PRINCIPAL: Principal = { userId: 'system:calibration', roles: ['admin'], tier: 'premium', entitlements: ['grading'], via: 'api_key' };

export interface CalibrationResult {
  rubricId: string;
  rubricVersion: number;
  n: number;
  /** null when there was nothing to compare (no anchors, no overrides): no run is kept then. */
  kappa: number | null;
  exact: number | null;
  llmGraded: number;
}

// Re-grades answers with a known grade (the rubric's anchors and instructors'
// overrides) and tracks agreement, so drift shows when a model or template changes.
export class GradingCalibrationService {
  // The gauge shows each rubric's newest stored run, read from the store: set in process, it
  // showed a run only on the instance that ran it (one instance runs each scheduled period),
  // so the others exported nothing, or their own older run, and Prometheus saw a different
  // kappa per instance. Read at most once per refreshMs (concurrent scrapes share the read),
  // and again at the next scrape after a run on this instance.
  private latest?: { readAt: number; rows: { rubricId: string; kappa: number }[] };
  private reading?: Promise<{ rubricId: string; kappa: number }[] | undefined>;
  private runs = 0; // runs stored here: a read begun before one must not be kept as fresh

  constructor(
    private readonly grading: Pick<GradingService, 'evaluate' | 'rubric'>,
    private readonly repo: Pick<GradingRepository, 'overridesFor' | 'insertCalibration' | 'calibrations' | 'latestCalibrations'>,
    private readonly model: string,
    private readonly clock: Clock,
    registry: Registry,
    private readonly refreshMs = CALIBRATION_GAUGE_REFRESH_MS,
  ) {
    const latestKappas = () => this.latestKappas();
    new Gauge({
      name: 'tutorgate_grading_calibration_kappa',
      help: 'Quadratic weighted kappa of LLM grades against known grades, per rubric (newest stored calibration run, read from the store at most once a minute).',
      labelNames: ['rubric'] as const,
      registers: [registry],
      async collect() {
        const rows = await latestKappas();
        if (!rows) return; // a failed read keeps the last values rather than fail the scrape
        this.reset();
        for (const r of rows) this.set({ rubric: r.rubricId }, r.kappa);
      },
    });
  }

  private latestKappas(): Promise<{ rubricId: string; kappa: number }[] | undefined> {
    const now = this.clock.now();
    if (this.latest && now - this.latest.readAt < this.refreshMs) return Promise.resolve(this.latest.rows);
    const runs = this.runs;
    this.reading ??= this.repo
      .latestCalibrations()
      .then(
        (rows) => {
          if (runs === this.runs) this.latest = { readAt: now, rows };
          return rows;
        },
        () => undefined,
      )
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }

  // The recent runs for a rubric, newest first: agreement over time shows drift.
  async history(rubricId: string) {
    const rows = await this.repo.calibrations(rubricId);
    if (rows.length === 0) await this.grading.rubric(rubricId); // an unknown rubric is a 404, not an empty history
    return rows.map((r) => ({ rubricVersion: Number(r.rubric_version), model: r.model, templateVersion: Number(r.template_version), n: Number(r.n), kappa: r.kappa, exact: r.exact, at: new Date(Number(r.at)).toISOString() }));
  }

  async calibrate(rubricId: string): Promise<CalibrationResult> {
    const rubric = await this.grading.rubric(rubricId);
    const known = [
      ...rubric.anchors.map((a) => ({ answer: a.answer, levels: a.levels })),
      ...(await this.repo.overridesFor(rubric.id, rubric.version)).map((o) => ({ answer: o.answer, levels: o.override.levels })),
    ];
    const pairs: [number, number][] = [];
    let llmGraded = 0;
    for (const k of known) {
      // Compared on the criteria the known grade gives a level for: an anchor may grade some
      // criteria only, and its sum over those is no measure of the model's total over all.
      const graded = rubric.criteria.filter((c) => Object.hasOwn(k.levels, c.id));
      const on = (levels: ReadonlyArray<{ criterionId: string; levelId: string }>) => scoreFromLevels(rubric, levels.filter((l) => graded.some((c) => c.id === l.criterionId)));
      // A known grade naming what the rubric does not have (an override stored before its
      // levels were checked), or nothing at all, is left out, not allowed to fail the run.
      if (graded.length === 0 || graded.length < Object.keys(k.levels).length) continue;
      let expected: number;
      try {
        expected = on(graded.map((c) => ({ criterionId: c.id, levelId: k.levels[c.id]! })));
      } catch {
        continue;
      }
      const e = await this.grading.evaluate(CALIBRATION_PRINCIPAL, { rubricId: rubric.id, question: rubric.question ?? rubric.title, answer: k.answer });
      // Graded with a version published since this run began: not this version's agreement.
      if (e.rubric.version !== rubric.version) continue;
      if (e.source !== 'rules') llmGraded++;
      // Unrounded: half points are points (0.5 and 1 both rounded to 1). Both sides are summed
      // over the rubric's criteria in its order, so equal levels give equal scores.
      pairs.push([expected, on(e.criteria)]);
    }
    // Nothing to compare measures nothing: no run is kept (its NaN agreement would break the
    // NOT NULL columns on SQLite, and read as null on Postgres) and the gauge keeps the last one.
    if (pairs.length === 0) return { rubricId: rubric.id, rubricVersion: rubric.version, n: 0, kappa: null, exact: null, llmGraded };
    const kappa = quadraticWeightedKappa(pairs, 0, maxScore(rubric));
    const exact = exactAgreement(pairs);
    await this.repo.insertCalibration({ id: newId('cal'), rubricId: rubric.id, rubricVersion: rubric.version, model: this.model, templateVersion: GRADING_TEMPLATE_VERSION, n: pairs.length, kappa, exact, at: this.clock.now() });
    this.runs++;
    this.latest = undefined; // the next scrape reads the run just stored
    return { rubricId: rubric.id, rubricVersion: rubric.version, n: pairs.length, kappa, exact, llmGraded };
  }
}
