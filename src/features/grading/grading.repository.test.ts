import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestStore, type TestStore } from '../../../test/helpers/databases.js';
import { DeferredWork } from '../../platform/deferred-work.js';
import { GradingRepository, type EvaluationRow } from './grading.repository.js';

const row = (id: string, reviewStatus: 'none' | 'pending' = 'none'): EvaluationRow => ({
  id,
  user_id: 'learner-1',
  rubric_id: 'demo-evaporation',
  rubric_version: 1,
  rubric_json: null,
  question: 'Why does a puddle disappear?',
  answer: 'It evaporates.',
  result_json: '{}',
  source: 'llm',
  confidence: 0.9,
  review_status: reviewStatus,
  review_reasons: reviewStatus === 'pending' ? 'rules_disagree' : null,
  override_json: null,
  reviewed_by: null,
  reviewed_at: null,
  created_at: 1_764_000_000_000,
});

// Written after the answer (ADR 0011): the insert resolves before the row is committed,
// and every read of this repository waits for the inserts begun before it.
describe('GradingRepository, evaluations written after the answer', () => {
  let ts: TestStore;
  let failures: string[];
  let deferred: DeferredWork;
  let repo: GradingRepository;

  beforeEach(async () => {
    ts = await openTestStore('sqlite');
    failures = [];
    deferred = new DeferredWork((err, label) => failures.push(`${label}: ${(err as Error).message}`));
    repo = new GradingRepository(ts.store, deferred);
  });
  afterEach(() => ts.cleanup());

  const committed = (id: string) => ts.store.db.selectFrom('evaluations').select('id').where('id', '=', id).executeTakeFirst();

  it('answers before the row is written, yet reads by id and the review queue see it at once', async () => {
    await repo.insertEvaluation(row('eval_a'));
    await repo.insertEvaluation(row('eval_b', 'pending'));
    expect(await committed('eval_a')).toBeUndefined(); // not yet: the answer goes out first
    expect((await repo.evaluation('eval_a'))?.id).toBe('eval_a');
    expect((await repo.reviewQueue(10)).map((r) => r.id)).toEqual(['eval_b']);
    expect(await repo.resolveReview('eval_b', '{"levels":{}}', 'teacher-1', 1_764_000_000_001)).toBe(true);
    expect(await committed('eval_a')).toEqual({ id: 'eval_a' });
    expect(deferred.size).toBe(0);
    expect(failures).toEqual([]);
  });

  it('a write that fails after the answer is reported with the evaluation id, and reads do not hang on it', async () => {
    await repo.insertEvaluation(row('eval_dup'));
    await deferred.drain();
    await repo.insertEvaluation(row('eval_dup')); // the same id again: the primary key refuses it
    expect(await repo.evaluation('eval_dup')).toMatchObject({ id: 'eval_dup' });
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/^evaluation: evaluation eval_dup \(user learner-1\) was answered but not stored: UNIQUE constraint failed/);
  });

  it('without a deferred writer, the insert is committed when it resolves', async () => {
    const direct = new GradingRepository(ts.store);
    await direct.insertEvaluation(row('eval_now'));
    expect(await committed('eval_now')).toEqual({ id: 'eval_now' });
  });
});
