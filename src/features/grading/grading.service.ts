import { LRUCache } from 'lru-cache';
import type { Clock } from '../../platform/clock.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import { isLlmError } from '../../llm/client/index.js';
import type { Policy } from '../../platform/policy.js';
import type { Principal } from '../identity/identity.types.js';
import { hasPermission } from '../identity/access.js';
import type { PremiumPipeline } from '../premium/premium-pipeline.js';
import type { Source } from '../premium/premium.types.js';
import { UserErasedError, type UsageSummary } from '../usage/metering.service.js';
import { isBlankAnswer } from './blank-answer.js';
import { gradesDisagree } from './grade-agreement.js';
import { buildGradingPrompt, GRADING_TEMPLATE_ID, GRADING_TEMPLATE_VERSION } from './grading-prompt.js';
import { validateGradingOutput } from './grading-output.validator.js';
import type { GradingRepository } from './grading.repository.js';
import { detectInjection } from './injection-detector.js';
import { rulesGrade, type Grade, type RulesGrade } from './rules-grader.js';
import { DEFAULT_RUBRIC_ID, RubricSchema, defaultRubric, maxScore, scoreFromLevels, type Rubric, type RubricInput } from './rubric.schema.js';

export interface EvaluationRequest {
  rubricId?: string | undefined;
  rubric?: RubricInput | undefined;
  /** The rubric's own question when left out; required when the rubric names none. */
  question?: string | undefined;
  referenceAnswer?: string | undefined;
  answer: string;
}

export interface GradedAnswer extends Grade {
  reviewReasons: string[];
}

export interface Evaluation {
  id: string;
  rubric: { id: string; version: number };
  score: number;
  maxScore: number;
  criteria: Grade['criteria'];
  feedback: Grade['feedback'];
  confidence: number;
  reviewStatus: 'none' | 'pending' | 'resolved';
  reviewReasons: string[];
  injection: { flagged: boolean; signals: string[] };
  source: Source;
  usage: UsageSummary;
  fallbackReason?: string;
  notices?: string[];
  createdAt: string;
}

// A rules grade this far from the LLM's (as a share of the maximum) is worth a human look.
const RULES_DISAGREEMENT = 0.5;

export class GradingService {
  private readonly latest = new LRUCache<string, Rubric>({ max: 10_000, ttl: 1000 });

  constructor(
    private readonly repo: GradingRepository,
    private readonly pipeline: Pick<PremiumPipeline, 'admit' | 'run'>,
    private readonly policy: Policy,
    private readonly clock: Clock,
  ) {}

  // `json`: the evaluation as stored (JSON.stringify of the evaluation's fields, in order),
  // which the route answers with instead of serialising the same object a second time.
  async evaluate(p: Principal, req: EvaluationRequest): Promise<Evaluation & { headers: Record<string, string>; json: string }> {
    const rubric = await this.resolveRubric(req);
    const question = questionFor(req, rubric);
    // A valid request is counted against the rate limit before any grading work: a refused
    // one costs the rubric lookup and the limiter decision, nothing more.
    const admission = await this.pipeline.admit(p, 'grading');
    const injection = detectInjection(req.answer);
    // The rules grade is only needed for a rules answer or a consistency check, not for a cache hit.
    let rules: RulesGrade | undefined;
    const rulesOnce = () => (rules ??= rulesGrade({ rubric, question, answer: req.answer }));
    const cfg = this.policy.grading;

    const outcome = await this.pipeline.run<GradedAnswer>({
      feature: 'grading',
      principal: p,
      rules: () => ({ ...toGrade(rulesOnce()), reviewReasons: [] }),
      // A learner who left the question blank gets the lowest level of every criterion from
      // the rules; a model call would cost a whole prompt to say the same.
      blankInput: isBlankAnswer(req.answer),
      cache: {
        scope: 'shared',
        // Everything that decides the grade. A stored rubric is its id and version (a new
        // version never serves an old grade); an inline or default rubric is its whole
        // content, which for the default rubric is the reference answer: the cache is
        // shared, and two requests that differ in it must never share a grade.
        inputs: { rubric: rubric.id, version: rubric.version, inline: req.rubricId ? null : rubric, question, answer: req.answer },
        // A grade whose second opinion failed is answered (and sent to review) but not shared
        // for the cache's 30 days: the next learner with this answer gets a checked grade.
        cacheable: (g) => !g.reviewReasons?.includes('second_sample_failed'),
        tags: ['feature:grading', `rubric:${rubric.id}`],
      },
      llm: {
        template: { id: GRADING_TEMPLATE_ID, version: GRADING_TEMPLATE_VERSION },
        prompt: () => {
          const pr = buildGradingPrompt({ rubric, question, answer: req.answer });
          return {
            system: [
              { text: pr.system, cache: '1h' },
              { text: pr.rubricBlock, cache: '5m' },
            ],
            user: pr.user,
            schema: pr.outputSchema,
          };
        },
        maxTokens: cfg.maxTokens,
        maxCalls: 4, // a sample and its repair, twice when a second opinion is needed
        parse: (raw) => {
          const v = validateGradingOutput(raw, { rubric, answer: req.answer, revealGuard: cfg.revealGuard });
          return v.ok ? { ok: true, value: { ...v.grade, reviewReasons: [] } } : v;
        },
      },
      refine: async (first, again) => {
        const reasons: string[] = [];
        if (first.confidence < cfg.secondSampleBelowConfidence) {
          // A second opinion that cannot be had (invalid twice, or the upstream failing) does
          // not cost the learner the valid grade already paid for: a person looks at it.
          try {
            const second = await again();
            if (gradesDisagree(first, second, cfg.disagreementThreshold)) reasons.push('samples_disagree');
          } catch (err) {
            if (!isLlmError(err)) throw err;
            reasons.push('second_sample_failed');
          }
        }
        if (gradesDisagree(first, rulesOnce(), RULES_DISAGREEMENT)) reasons.push('rules_disagree');
        return { ...first, reviewReasons: reasons };
      },
      whileWaiting: () => {
        try {
          rulesOnce();
        } catch {
          // The consistency check or the rules answer will call it again and meet the error there.
        }
      },
    }, admission);

    const grade = outcome.value;
    const reviewReasons = [...grade.reviewReasons, ...(injection.flagged ? ['possible_prompt_injection'] : [])];
    const now = this.clock.now();
    const evaluation: Evaluation = {
      id: newId('eval'),
      rubric: { id: rubric.id, version: rubric.version },
      score: grade.score,
      maxScore: grade.maxScore,
      criteria: grade.criteria,
      feedback: grade.feedback,
      confidence: grade.confidence,
      reviewStatus: reviewReasons.length ? 'pending' : 'none',
      reviewReasons,
      injection,
      source: outcome.source,
      usage: outcome.usage,
      ...(outcome.fallbackReason ? { fallbackReason: outcome.fallbackReason } : {}),
      ...(outcome.notices.length ? { notices: outcome.notices } : {}),
      createdAt: new Date(now).toISOString(),
    };
    const json = JSON.stringify(evaluation);
    // A learner erased while this request was in flight: their answer is not stored under
    // the id the erasure removed, and they hear what their credentials now get (ADR 0016).
    const stored = await this.repo.insertEvaluation({
      id: evaluation.id,
      user_id: p.userId,
      rubric_id: rubric.id,
      rubric_version: rubric.version,
      rubric_json: req.rubricId ? null : JSON.stringify(rubric),
      question,
      answer: req.answer,
      result_json: json,
      source: outcome.source,
      confidence: grade.confidence,
      review_status: evaluation.reviewStatus === 'pending' ? 'pending' : 'none',
      review_reasons: reviewReasons.length ? reviewReasons.join(',') : null,
      override_json: null,
      reviewed_by: null,
      reviewed_at: null,
      created_at: now,
    });
    if (!stored) throw new UserErasedError();
    return { ...evaluation, headers: outcome.headers, json };
  }

  // The owner sees their own evaluations; instructors and admins see all. Anyone else
  // gets 404, never 403: the id's existence is not disclosed.
  async get(p: Principal, id: string): Promise<Evaluation> {
    const row = await this.repo.evaluation(id);
    const staff = p.roles.includes('instructor') || p.roles.includes('admin');
    if (!row || (row.user_id !== p.userId && !staff)) throw new NotFoundError('Evaluation');
    return withReview(row);
  }

  async rubrics(): Promise<{ id: string; version: number; title: string; question?: string | undefined; criteria: number; maxScore: number }[]> {
    return (await this.repo.listLatest()).map(({ rubric }) => ({
      id: rubric.id,
      version: rubric.version,
      title: rubric.title,
      question: rubric.question,
      criteria: rubric.criteria.length,
      maxScore: maxScore(rubric),
    }));
  }

  // A rubric as the caller may see it: its reference answers and graded anchors are what
  // the LLM grades against and the reveal guard keeps out of feedback, so only those who
  // manage rubrics read them; a learner sees the question, criteria and levels.
  async rubricFor(p: Principal, id: string): Promise<Rubric | Omit<Rubric, 'referenceAnswers' | 'anchors'>> {
    const rubric = await this.rubric(id);
    if (hasPermission(p.roles, 'rubrics:manage')) return rubric;
    const { referenceAnswers: _answers, anchors: _anchors, ...shown } = rubric;
    return shown;
  }

  // The newest version, kept for a second per instance: a new version is graded with
  // everywhere within a second (versions are immutable, so nothing stale is ever mixed).
  async rubric(id: string): Promise<Rubric> {
    const cached = this.latest.get(id);
    if (cached) return cached;
    const r = await this.repo.latestRubric(id);
    if (!r) throw new NotFoundError('Rubric');
    this.latest.set(id, r.rubric);
    return r.rubric;
  }

  // A new rubric, or a new version of one the caller owns (admins may version any).
  async publishRubric(p: Principal, input: RubricInput): Promise<Rubric> {
    const rubric = parseRubric(input, 'rubric');
    // Evaluations name their rubric by id and version, and calibration reads them so.
    if (rubric.id === DEFAULT_RUBRIC_ID) throw new ValidationError(`The rubric id "${DEFAULT_RUBRIC_ID}" is reserved for the default rubric.`, [{ path: 'id', message: 'reserved' }]);
    const latest = await this.repo.latestRubric(rubric.id);
    if (latest && latest.ownerId !== p.userId && !p.roles.includes('admin')) throw new ForbiddenError('Only the owner of a rubric may publish new versions.');
    if (latest && rubric.version <= latest.rubric.version) throw new ConflictError(`Rubric ${rubric.id} is at version ${latest.rubric.version}; publish version ${latest.rubric.version + 1} or later.`);
    // Two publishers of the same new version race to this insert; the loser hears so.
    if (!(await this.repo.insertRubric(rubric, p.userId, this.clock.now()))) throw new ConflictError(`Rubric ${rubric.id} version ${rubric.version} was published meanwhile; publish version ${rubric.version + 1} or later.`);
    this.latest.delete(rubric.id);
    return rubric;
  }

  async reviewQueue(limit = 50): Promise<Evaluation[]> {
    return (await this.repo.reviewQueue(limit)).map(withReview);
  }

  async resolveReview(p: Principal, id: string, override: { levels: Record<string, string>; note?: string | undefined }): Promise<Evaluation> {
    const row = await this.repo.evaluation(id);
    if (!row) throw new NotFoundError('Evaluation');
    const rubric = row.rubric_json ? (JSON.parse(row.rubric_json) as Rubric) : (await this.repo.rubricVersion(row.rubric_id, row.rubric_version))?.rubric;
    if (!rubric) throw new NotFoundError('Rubric');
    // A level for every criterion of the rubric and nothing else: the override is stored
    // and feeds calibration, which scores it again.
    const unknown = Object.keys(override.levels).filter((c) => !rubric.criteria.some((x) => x.id === c));
    if (unknown.length) throw new ValidationError(`levels: unknown criteria ${unknown.map((c) => `"${c}"`).join(', ')}`, unknown.map((c) => ({ path: `levels.${c}`, message: 'not a criterion of the rubric' })));
    let score: number;
    try {
      score = scoreFromLevels(rubric, rubric.criteria.map((c) => ({ criterionId: c.id, levelId: override.levels[c.id] ?? '' })));
    } catch (err) {
      throw new ValidationError(`levels: ${(err as Error).message}`, [{ path: 'levels', message: (err as Error).message }]);
    }
    if (!(await this.repo.resolveReview(id, JSON.stringify({ ...override, score }), p.userId, this.clock.now()))) throw new ConflictError('This evaluation is not awaiting review.');
    return this.get(p, id);
  }

  private async resolveRubric(req: EvaluationRequest): Promise<Rubric> {
    // Both given, the inline rubric was dropped unread (even an invalid one) and the answer
    // graded on the stored rubric: the caller could not tell which rubric its grade is on.
    if (req.rubricId && req.rubric) {
      throw new ValidationError('Give a rubricId or a rubric, not both.', [{ path: 'rubric', message: 'not allowed with rubricId' }]);
    }
    if (req.rubricId) return this.rubric(req.rubricId);
    if (req.rubric) return parseRubric(req.rubric, 'rubric');
    if (!req.referenceAnswer) {
      throw new ValidationError('Give a rubricId, a rubric, or a referenceAnswer for the default rubric.', [{ path: 'referenceAnswer', message: 'required without rubricId or rubric' }]);
    }
    if (req.question === undefined) throw new ValidationError('Give the question: the default rubric grades against a reference answer to it.', [{ path: 'question', message: 'required with referenceAnswer' }]);
    return defaultRubric(req.question, req.referenceAnswer);
  }
}

// A stored rubric written for one question needs no repeat of it (as grade-batch reads a
// file without a question column); a question sent with it is the one graded.
function questionFor(req: Pick<EvaluationRequest, 'question'>, rubric: Rubric): string {
  const question = req.question ?? rubric.question;
  if (question === undefined) throw new ValidationError('Give the question: this rubric names none.', [{ path: 'question', message: 'required when the rubric names no question' }]);
  return question;
}

export function parseRubric(input: unknown, path: string): Rubric {
  const parsed = RubricSchema.safeParse(input);
  if (!parsed.success) {
    const errors = parsed.error.issues.map((i) => ({ path: [path, ...i.path.map(String)].join('.'), message: i.message }));
    throw new ValidationError(`Invalid rubric: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`.slice(0, 2000), errors);
  }
  return parsed.data;
}

function toGrade(g: Grade): Grade {
  return { score: g.score, maxScore: g.maxScore, criteria: g.criteria, feedback: g.feedback, confidence: g.confidence };
}

function withReview(row: { result_json: string; review_status: string; override_json: string | null; reviewed_by: string | null }): Evaluation {
  const e = JSON.parse(row.result_json) as Evaluation;
  const override = row.override_json ? (JSON.parse(row.override_json) as { score: number }) : undefined;
  return { ...e, reviewStatus: row.review_status as Evaluation['reviewStatus'], ...(override ? { score: override.score, override } : {}) };
}

