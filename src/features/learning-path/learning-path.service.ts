import { DAY_MS, type Clock } from '../../platform/clock.js';
import { ValidationError } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import type { Principal } from '../identity/identity.types.js';
import type { PremiumPipeline } from '../premium/premium-pipeline.js';
import type { PremiumOutcome } from '../premium/premium.types.js';
import { UserErasedError, ZERO_SUMMARY } from '../usage/metering.service.js';
import type { ItemKind } from './catalog.schema.js';
import type { CatalogProvider } from './catalog-provider.js';
import type { LearnerModel, LearnerSnapshot } from './learner-model.js';
import { skillIndex } from './learner-model.js';
import type { LearningRepository } from './learning.repository.js';
import { buildPathPrompt, validatePathOutput, type PathCandidate } from './path-prompt.js';
import { DEFAULT_RECOMMENDER_OPTIONS, recommend } from './rules-recommender.js';

export interface ProgressEventInput {
  eventId?: string | undefined;
  itemId: string;
  correct: boolean;
  at?: string | undefined; // ISO time; defaults to now
}

export interface PathRequest {
  count: number;
  goal?: string | undefined;
  preferredKinds?: ItemKind[] | undefined;
}

export interface PathItem {
  itemId: string;
  title: string;
  kind: ItemKind;
  skills: string[];
  minutes: number;
  reasons: string[];
}

export interface LearningPath {
  items: PathItem[];
  rationale: string;
}

// How far ahead of this server's clock an attempt's time may be.
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

const CANDIDATE_FACTOR = 3; // the LLM chooses among 3× as many rules-approved candidates as it returns

export class LearningPathService {
  constructor(
    private readonly repo: Pick<LearningRepository, 'insertEvents' | 'insertRecommendation' | 'recordExposure' | 'eventsFor'>,
    private readonly catalogs: CatalogProvider,
    private readonly learners: LearnerModel,
    private readonly pipeline: Pick<PremiumPipeline, 'admit' | 'run'>,
    private readonly clock: Clock,
  ) {}

  async recordEvents(p: Principal, events: ProgressEventInput[]): Promise<{ accepted: number; duplicates: number; events: number }> {
    const { catalog } = await this.catalogs.get();
    const known = new Set(catalog.items.map((i) => i.id));
    const now = this.clock.now();
    // An attempt is in the past (a device's clock may run a little fast): one dated years
    // ahead would sort after every real one for good, so each later event would replay the
    // learner's history and the item would look just done for ever.
    const errors = events.flatMap((e, i) => [
      ...(known.has(e.itemId) ? [] : [{ path: `events.${i}.itemId`, message: `unknown item "${e.itemId}"` }]),
      ...(e.at && Date.parse(e.at) > now + MAX_CLOCK_SKEW_MS ? [{ path: `events.${i}.at`, message: 'in the future' }] : []),
    ]);
    if (errors.length) throw new ValidationError(`Invalid events: ${errors.map((e) => `${e.path} (${e.message})`).join(', ')}`, errors);
    // Without a client id the event cannot be deduplicated on resend; give it a fresh one.
    // Ids made in one millisecond sort at random, and attempts of one time are applied in
    // id order (learner-model.ts): hand them out sorted, so a batch's order stands.
    const ids = events.map(() => newId('ev')).sort();
    const rows = events.map((e, i) => ({
      user_id: p.userId,
      event_id: e.eventId ?? ids[i]!,
      item_id: e.itemId,
      correct: e.correct ? 1 : 0,
      at: e.at ? Date.parse(e.at) : now,
      received_at: now,
    }));
    const fresh = await this.repo.insertEvents(rows);
    // Erased after this request authenticated: nothing stored, and the answer their
    // credentials now get (ADR 0016).
    if (!fresh) throw new UserErasedError();
    const snap = fresh.length ? await this.learners.apply(p.userId, fresh, catalog) : await this.learners.snapshot(p.userId);
    return { accepted: fresh.length, duplicates: rows.length - fresh.length, events: snap.events };
  }

  mastery(p: Principal): Promise<Mastery> {
    return learnerMastery({ catalogs: this.catalogs, learners: this.learners }, p.userId);
  }

  async path(p: Principal, req: PathRequest): Promise<PremiumOutcome<LearningPath> & { catalogVersion: string }> {
    const { catalog, prepared } = await this.catalogs.get();
    if (req.goal !== undefined && !catalog.skills.some((s) => s.id === req.goal)) {
      throw new ValidationError(`Unknown goal skill "${req.goal}".`, [{ path: 'goal', message: 'not a skill of the catalog' }]);
    }
    // A valid request is counted against the rate limit before any work for it: a refused
    // one reads no progress and recommends nothing.
    const admission = await this.pipeline.admit(p, 'learning_path');
    const snap = await this.learners.snapshot(p.userId);
    const kt = await this.learners.kt();
    const skillsOf = skillIndex(catalog);
    const masteryOf = (s: string) => kt.mastery(snap.state, s);
    const now = this.clock.now();
    const history = await this.history(p.userId, snap, historySince(now));
    const rules = recommend({
      catalog: prepared,
      mastery: masteryOf,
      practised: (s) => attemptsOn(snap, s) > 0,
      pSuccess: (item) => kt.predict(snap.state, item.id, skillsOf(item.id)),
      history,
      historySince: historySince(now),
      goal: req.goal,
      count: req.count * CANDIDATE_FACTOR,
      preferredKinds: req.preferredKinds,
      tier: p.tier,
      now,
    });
    const byId = new Map(catalog.items.map((i) => [i.id, i]));
    const toItem = (id: string, reasons: string[]): PathItem => {
      const it = byId.get(id)!;
      return { itemId: id, title: it.title, kind: it.kind, skills: [...it.skills], minutes: it.minutes, reasons };
    };
    const reasonsOf = new Map(rules.items.map((r) => [r.itemId, r.reasons]));
    const rulesPath: LearningPath = { items: rules.items.slice(0, req.count).map((r) => toItem(r.itemId, r.reasons)), rationale: rules.rationale };
    const candidates: PathCandidate[] = rules.items.map((r) => {
      const it = byId.get(r.itemId)!;
      return { itemId: r.itemId, title: it.title, kind: it.kind, skills: it.skills, score: r.score, reasons: r.reasons };
    });
    const mastered = (s: string) => isMastered(masteryOf(s), attemptsOn(snap, s));
    // Nothing open to this learner: the rules' empty path is the whole answer, and a model
    // asked to choose none of nothing would only cost a call.
    if (candidates.length === 0) {
      if (!(await this.repo.insertRecommendation({ id: newId('rec'), userId: p.userId, experiment: null, variant: null, source: 'rules', itemIds: [], at: now }))) throw new UserErasedError();
      return { value: rulesPath, source: 'rules', usage: ZERO_SUMMARY, notices: [], headers: admission.headers, catalogVersion: catalog.version };
    }
    const prompt = buildPathPrompt({ learnerSummary: summarize(catalog.skills, masteryOf, snap, history), candidates, count: req.count, goal: req.goal });

    const outcome = await this.pipeline.run<LearningPath>({
      feature: 'learning_path',
      principal: p,
      rules: () => rulesPath,
      cache: {
        scope: 'user',
        inputs: { catalog: catalog.version, events: snap.events, lastEventAt: snap.lastEventAt, count: req.count, goal: req.goal ?? null, kinds: req.preferredKinds ?? null },
        // The pipeline adds the user's tag, as to every per-user entry.
        tags: ['feature:learning_path', `catalog:${catalog.version}`],
      },
      llm: {
        template: { id: prompt.templateId, version: prompt.templateVersion },
        prompt: () => ({ system: [{ text: prompt.system, cache: '5m' }], user: prompt.user, schema: prompt.outputSchema }),
        maxTokens: 600,
        stream: true, // usage then comes from the cumulative message_delta counts
        parse: (raw) => {
          // Whatever the model says, only rules-approved candidates with met prerequisites pass.
          const v = validatePathOutput(raw, { candidates, catalog, mastered, count: req.count });
          return v.ok ? { ok: true, value: { items: v.itemIds.map((id) => toItem(id, reasonsOf.get(id) ?? [])), rationale: v.rationale } } : v;
        },
      },
    }, admission);
    const experiment = outcome.flagVariant ? 'learning_path' : null;
    // A learner erased while this request was in flight (a cached or rules path reserves
    // nothing): no recommendation or exposure under their id, and a 401 (ADR 0016).
    const stored = await this.repo.insertRecommendation({ id: newId('rec'), userId: p.userId, experiment, variant: outcome.flagVariant ?? null, source: outcome.source, itemIds: outcome.value.items.map((i) => i.itemId), at: now });
    if (!stored || (experiment && outcome.flagVariant && !(await this.repo.recordExposure(experiment, p.userId, outcome.flagVariant, now)))) throw new UserErasedError();
    return { ...outcome, catalogVersion: catalog.version };
  }

  private async history(userId: string, snap: LearnerSnapshot, since: number) {
    if (snap.events === 0) return [];
    const rows = await this.repo.eventsFor(userId, since);
    return rows.map((e) => ({ itemId: e.item_id, at: Number(e.at), correct: e.correct === 1 }));
  }
}

// Only the recent past matters for recency penalties and review; the read is bounded. A
// mastered skill not practised in it is due for review (the recommender's historySince).
const HISTORY_DAYS = 60;
const historySince = (now: number) => now - HISTORY_DAYS * DAY_MS;

// Answers the learner has given on items of the skill.
const attemptsOn = (snap: LearnerSnapshot, skillId: string): number => snap.state.skills.get(skillId)?.attempts ?? 0;

// As the recommender decides it (its `practised` input): the estimate over the threshold,
// on a skill the learner has practised.
const isMastered = (mastery: number, attempts: number): boolean => mastery >= DEFAULT_RECOMMENDER_OPTIONS.masteryThreshold && attempts > 0;

function summarize(skills: { id: string; name: string }[], mastery: (s: string) => number, snap: LearnerSnapshot, history: { correct: boolean }[]): string {
  const recent = history.slice(-20);
  const acc = recent.length ? Math.round((100 * recent.filter((h) => h.correct).length) / recent.length) : null;
  const lines = skills.map((s) => `${s.name}: ${Math.round(mastery(s.id) * 100)}%`);
  return [`Attempts so far: ${snap.events}${acc === null ? '' : `; recent accuracy ${acc}%`}.`, 'Estimated mastery per skill:', ...lines].join('\n');
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

export type Mastery = { catalogVersion: string; events: number; skills: { skillId: string; name: string; mastery: number; mastered: boolean; attempts: number }[] };

// Any learner's mastery per skill of the active catalog: GET /v1/learners/me/mastery, and
// the export of a learner's data (features/privacy), which needs no premium pipeline.
export async function learnerMastery(d: { catalogs: Pick<CatalogProvider, 'get'>; learners: Pick<LearnerModel, 'snapshot' | 'kt'> }, userId: string): Promise<Mastery> {
  const { catalog } = await d.catalogs.get();
  const snap = await d.learners.snapshot(userId);
  const kt = await d.learners.kt();
  return {
    catalogVersion: catalog.version,
    events: snap.events,
    skills: catalog.skills.map((s) => {
      const m = kt.mastery(snap.state, s.id);
      const attempts = attemptsOn(snap, s.id);
      return { skillId: s.id, name: s.name, mastery: round3(m), mastered: isMastered(m, attempts), attempts };
    }),
  };
}
