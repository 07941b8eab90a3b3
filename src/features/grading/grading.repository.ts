import { sql, type ExpressionBuilder } from 'kysely';
import type { Db, Store } from '../../platform/db/database.js';
import { placeheldRow, statement } from '../../platform/db/statement.js';
import type { DB, EvaluationsTable } from '../../platform/db/schema.js';
import { affectedRows } from '../../platform/db/transaction-runner.js';
import { isServicePrincipal, whileUserStands } from '../../platform/db/while-user-stands.js';
import type { Rubric } from './rubric.schema.js';

export type EvaluationRow = EvaluationsTable;

// Every column of an evaluation, checked by the compiler against the table type: the
// insert names each one, so a row is written whole.
const EVALUATION_COLUMNS = {
  id: true,
  user_id: true,
  rubric_id: true,
  rubric_version: true,
  rubric_json: true,
  question: true,
  answer: true,
  result_json: true,
  source: true,
  confidence: true,
  review_status: true,
  review_reasons: true,
  override_json: true,
  reviewed_by: true,
  reviewed_at: true,
  created_at: true,
} satisfies Record<keyof EvaluationRow, true>;

export type EvaluationSet = 'ordinary' | 'calibration';

// The calibration set: instructor overrides, graded answers with a known grade. Only those
// graded with the stored rubric: an inline rubric may reuse its id and version with other
// criteria (its own rubric is in rubric_json). Calibration reads it; retention keeps it apart.
const inCalibrationSet = (eb: ExpressionBuilder<DB, 'evaluations'>) => eb.and([eb('review_status', '=', 'resolved'), eb('rubric_json', 'is', null)]);

// Named by what may go, not by what must stay: a review state added later is kept until
// someone decides about it here. A resolved review is as old as its resolution, not its
// creation: the instructor's grade is what the learner reads back, so an old answer
// reviewed today is kept a whole period from today, not deleted by the next run.
// (reviewed_at >= created_at, so `created_at < before` still bounds the index range.)
const inSet = (set: EvaluationSet, before: number) => (eb: ExpressionBuilder<DB, 'evaluations'>) =>
  set === 'calibration'
    ? eb.and([inCalibrationSet(eb), eb('reviewed_at', '<', before)])
    : eb.or([eb('review_status', '=', 'none'), eb.and([eb('review_status', '=', 'resolved'), eb('rubric_json', 'is not', null), eb('reviewed_at', '<', before)])]);

export interface StoredRubric {
  rubric: Rubric;
  ownerId: string | null;
}

export class GradingRepository {
  // Every grading request stores its evaluation (cache hits too): compiled once. Written only
  // while the learner's row stands (while-user-stands.ts): an answer from the cache or the
  // rules reserves nothing, so this insert is where an erasure that came after the request
  // authenticated is met.
  private readonly insertEvaluationStmt;
  private readonly insertServiceEvaluationStmt;

  private readonly db: Db;

  constructor(private readonly store: Pick<Store, 'db' | 'write'>) {
    this.db = store.db;
    // The service's own grading (calibration, `system:…`) has no user row: a plain insert.
    this.insertServiceEvaluationStmt = statement(this.db, (p, db) => db.insertInto('evaluations').values(placeheldRow<EvaluationRow>(p, EVALUATION_COLUMNS)));
    const columns = Object.keys(EVALUATION_COLUMNS) as (keyof EvaluationRow)[];
    this.insertEvaluationStmt = statement(this.db, (p, db) => db.insertInto('evaluations').columns(columns).expression(whileUserStands(db, placeheldRow<EvaluationRow>(p, EVALUATION_COLUMNS), p.user_id) as never));
  }

  // Rubric versions are immutable: a change is a new version, so grades and cache keys
  // made with the old version stay meaningful.
  async insertRubric(rubric: Rubric, ownerId: string | null, now: number): Promise<boolean> {
    const res = await this.db
      .insertInto('rubrics')
      .values({ id: rubric.id, version: rubric.version, owner_id: ownerId, definition_json: JSON.stringify(rubric), created_at: now })
      .onConflict((oc) => oc.columns(['id', 'version']).doNothing())
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async latestRubric(id: string): Promise<StoredRubric | undefined> {
    const r = await this.db.selectFrom('rubrics').selectAll().where('id', '=', id).orderBy('version', 'desc').limit(1).executeTakeFirst();
    return r && { rubric: JSON.parse(r.definition_json) as Rubric, ownerId: r.owner_id };
  }

  async rubricVersion(id: string, version: number): Promise<StoredRubric | undefined> {
    const r = await this.db.selectFrom('rubrics').selectAll().where('id', '=', id).where('version', '=', version).executeTakeFirst();
    return r && { rubric: JSON.parse(r.definition_json) as Rubric, ownerId: r.owner_id };
  }

  // The newest version of every rubric.
  async listLatest(): Promise<StoredRubric[]> {
    const rows = await this.db
      .selectFrom('rubrics as r')
      .selectAll('r')
      .where(({ eb, selectFrom }) => eb('r.version', '=', selectFrom('rubrics as r2').select(sql<number>`max(r2.version)`.as('v')).whereRef('r2.id', '=', 'r.id')))
      .orderBy('r.id')
      .execute();
    return rows.map((r) => ({ rubric: JSON.parse(r.definition_json) as Rubric, ownerId: r.owner_id }));
  }

  // False when the learner's row is gone (erased after the request authenticated): nothing written.
  async insertEvaluation(row: EvaluationRow): Promise<boolean> {
    const stmt = isServicePrincipal(row.user_id) ? this.insertServiceEvaluationStmt : this.insertEvaluationStmt;
    return affectedRows(await this.store.write(stmt.bind(row))) > 0;
  }

  async evaluation(id: string): Promise<EvaluationRow | undefined> {
    return this.db.selectFrom('evaluations').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async reviewQueue(limit: number): Promise<EvaluationRow[]> {
    return this.db.selectFrom('evaluations').selectAll().where('review_status', '=', 'pending').orderBy('created_at').limit(limit).execute();
  }

  async resolveReview(id: string, overrideJson: string, reviewer: string, now: number): Promise<boolean> {
    const res = await this.db
      .updateTable('evaluations')
      .set({ review_status: 'resolved', override_json: overrideJson, reviewed_by: reviewer, reviewed_at: now })
      .where('id', '=', id)
      .where('review_status', '=', 'pending')
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  // Instructor overrides feed calibration (the calibration set, above).
  async overridesFor(rubricId: string, version: number): Promise<{ answer: string; override: { levels: Record<string, string> } }[]> {
    const rows = await this.db
      .selectFrom('evaluations')
      .select(['answer', 'override_json'])
      .where('rubric_id', '=', rubricId)
      .where('rubric_version', '=', version)
      .where(inCalibrationSet)
      .execute();
    return rows.filter((r) => r.override_json).map((r) => ({ answer: r.answer, override: JSON.parse(r.override_json!) as { levels: Record<string, string> } }));
  }

  // Retention (ADR 0017). `ordinary`: every evaluation except those awaiting review (an
  // instructor still owes the grade) and the calibration set. `calibration`: resolved
  // reviews graded with a stored rubric, the answers with a known grade that
  // overridesFor reads. Oldest first through the created_at index, at most `limit`.
  async deleteEvaluationsBefore(set: EvaluationSet, before: number, limit: number): Promise<number> {
    const res = await this.db
      .deleteFrom('evaluations')
      .where('id', 'in', (eb) => eb.selectFrom('evaluations').select('id').where('created_at', '<', before).where(inSet(set, before)).orderBy('created_at').limit(limit))
      .executeTakeFirst();
    return Number(res.numDeletedRows);
  }

  async countEvaluationsBefore(set: EvaluationSet, before: number): Promise<number> {
    const r = await this.db.selectFrom('evaluations').select((eb) => eb.fn.countAll<number | string>().as('n')).where('created_at', '<', before).where(inSet(set, before)).executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  async insertCalibration(r: { id: string; rubricId: string; rubricVersion: number; model: string; templateVersion: number; n: number; kappa: number; exact: number; at: number }): Promise<void> {
    await this.db
      .insertInto('calibration_runs')
      .values({ id: r.id, rubric_id: r.rubricId, rubric_version: r.rubricVersion, model: r.model, template_version: r.templateVersion, n: r.n, kappa: r.kappa, exact: r.exact, at: r.at })
      .execute();
  }

  // Each rubric's newest run (the calibration gauge of every instance, not only of the one
  // that ran it). One grouped scan and a join back: the table has a row per rubric per run.
  async latestCalibrations(): Promise<{ rubricId: string; kappa: number; at: number }[]> {
    const rows = await this.db
      .selectFrom('calibration_runs as c')
      .innerJoin(
        (eb) => eb.selectFrom('calibration_runs').select(['rubric_id', (e) => e.fn.max('at').as('latest')]).groupBy('rubric_id').as('l'),
        (join) => join.onRef('l.rubric_id', '=', 'c.rubric_id').onRef('l.latest', '=', 'c.at'),
      )
      .select(['c.rubric_id', 'c.kappa', 'c.at', 'c.id'])
      .orderBy('c.rubric_id')
      .orderBy('c.id', 'desc')
      .execute();
    // Two runs of one rubric stored in the same millisecond: the later id (ids are time-ordered).
    const out = new Map<string, { rubricId: string; kappa: number; at: number }>();
    for (const r of rows) if (!out.has(r.rubric_id)) out.set(r.rubric_id, { rubricId: r.rubric_id, kappa: Number(r.kappa), at: Number(r.at) });
    return [...out.values()];
  }

  async calibrations(rubricId: string, limit = 20) {
    return this.db.selectFrom('calibration_runs').selectAll().where('rubric_id', '=', rubricId).orderBy('at', 'desc').limit(limit).execute();
  }
}
