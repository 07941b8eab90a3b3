import { DAY_MS } from '../../platform/clock.js';
import type { Catalog, CatalogItem, ItemKind } from './catalog.schema.js';
import { prepareCatalog, type PreparedCatalog } from './prepared-catalog.js';

export interface HistoryEntry {
  itemId: string;
  /** Epoch milliseconds. */
  at: number;
  correct: boolean;
}

export interface RecommenderOptions {
  /** Mastery at or above which a skill counts as mastered (prerequisites must reach it). */
  masteryThreshold: number;
  /** Success probability band that keeps practice productive: hard enough to learn from. */
  targetBand: readonly [number, number];
  /** Half-life of retention for mastered skills, in days: drives spaced review. */
  reviewHalfLifeDays: number;
  /** Half-life of the "just did this" penalty, in hours. */
  recentHalfLifeHours: number;
  weights: { gain: number; challenge: number; goal: number; review: number; preferred: number; recent: number };
}

export const DEFAULT_RECOMMENDER_OPTIONS: RecommenderOptions = {
  masteryThreshold: 0.7,
  targetBand: [0.6, 0.8],
  reviewHalfLifeDays: 7,
  recentHalfLifeHours: 24,
  weights: { gain: 1, challenge: 0.6, goal: 0.8, review: 0.7, preferred: 0.25, recent: 1 },
};

export interface RecommendInput {
  catalog: Catalog | PreparedCatalog;
  mastery: (skillId: string) => number;
  /**
   * Whether the learner has practised the skill. The model infers a skill never practised
   * from the learner's record on others; that is an estimate, not mastery, so such a skill
   * counts as unmastered (it is taught, and it unlocks nothing) whatever its estimate.
   * Omitted: every skill counts as practised.
   */
  practised?: (skillId: string) => boolean;
  pSuccess: (item: CatalogItem) => number;
  history: readonly HistoryEntry[];
  /**
   * Epoch milliseconds from which `history` holds every attempt (the caller bounds its
   * read). A mastered skill with no attempt in it was last practised before then: it is
   * at least that due for review. Omitted: the history is the learner's whole record.
   */
  historySince?: number | undefined;
  goal?: string | undefined;
  count: number;
  preferredKinds?: readonly ItemKind[] | undefined;
  tier: string;
  /** Epoch milliseconds. */
  now: number;
  options?: Partial<RecommenderOptions> | undefined;
}

export interface Recommendation {
  itemId: string;
  score: number;
  reasons: string[];
}

export interface RecommendResult {
  items: Recommendation[];
  rationale: string;
}

const HOUR = 3_600_000;

/**
 * Deterministic rule-based path: the fallback when the LLM is off or fails, and the source of
 * candidates for it. Candidates are tier-visible items whose skills' prerequisites are all
 * mastered and that either teach an unmastered skill or review a mastered one that is fading.
 * Scores add expected mastery gain, closeness of pSuccess to the target band, goal relevance,
 * review need and preferred kinds, minus a penalty for recently done items; ties go to the
 * smaller id. Reason strings are built only for the winners, to keep the scan cheap.
 */
export function recommend(input: RecommendInput): RecommendResult {
  const pc = 'goalMask' in input.catalog ? input.catalog : prepareCatalog(input.catalog);
  const opt = { ...DEFAULT_RECOMMENDER_OPTIONS, ...input.options };
  const W = { ...DEFAULT_RECOMMENDER_OPTIONS.weights, ...input.options?.weights };
  const thr = opt.masteryThreshold;
  const [lo, hi] = opt.targetBand;
  const nS = pc.skillIds.length;
  const count = Math.max(0, Math.floor(input.count));

  const m = new Float64Array(nS);
  const mastered = new Uint8Array(nS);
  for (let s = 0; s < nS; s++) {
    const id = pc.skillIds[s]!;
    m[s] = clamp01(input.mastery(id));
    mastered[s] = m[s]! >= thr && (input.practised?.(id) ?? true) ? 1 : 0;
  }
  const prereqOk = new Uint8Array(nS);
  for (let s = 0; s < nS; s++) {
    let ok = 1;
    for (const p of pc.prerequisites[s]!) if (!mastered[p]) ok = 0;
    prereqOk[s] = ok;
  }

  const lastSkill = new Float64Array(nS).fill(Number.NEGATIVE_INFINITY);
  const lastItem = new Map<number, { at: number; correct: boolean }>();
  for (const h of input.history) {
    const i = pc.itemIndex.get(h.itemId);
    if (i === undefined) continue;
    const prev = lastItem.get(i);
    if (!prev || h.at >= prev.at) lastItem.set(i, { at: h.at, correct: h.correct });
    for (const s of pc.itemSkills[i]!) if (h.at > lastSkill[s]!) lastSkill[s] = h.at;
  }
  if (input.historySince !== undefined) {
    for (let s = 0; s < nS; s++) if (mastered[s] && lastSkill[s] === Number.NEGATIVE_INFINITY) lastSkill[s] = input.historySince;
  }

  const goalMask = input.goal !== undefined ? pc.goalMask(input.goal) : undefined;
  const goalIdx = input.goal !== undefined ? pc.skillIndex.get(input.goal) : undefined;
  const visible = pc.tierMask(input.tier);
  const preferred = new Set(input.preferredKinds ?? []);

  const topIdx: number[] = [];
  const topScore: number[] = [];
  const items = pc.items;
  for (let i = 0; i < items.length; i++) {
    if (!visible[i]) continue;
    const sk = pc.itemSkills[i]!;
    let prereqs = true;
    let unmastered = 0;
    let due = 0;
    for (let j = 0; j < sk.length; j++) {
      const s = sk[j]!;
      if (!prereqOk[s]) prereqs = false;
      if (!mastered[s]) unmastered++;
      else if (lastSkill[s]! > Number.NEGATIVE_INFINITY) {
        const d = 1 - 2 ** (-Math.max(0, input.now - lastSkill[s]!) / (opt.reviewHalfLifeDays * DAY_MS));
        if (d > due) due = d;
      }
    }
    if (!prereqs || sk.length === 0) continue;
    // Fully mastered items only come back once retention has decayed by half.
    if (unmastered === 0 && due < 0.5) continue;
    const score = scoreItem(i);
    insertTop(topIdx, topScore, i, score, count, items);
  }

  function scoreItem(i: number): number {
    const it = items[i]!;
    const c = components(i, it);
    return (
      W.gain * c.gain +
      W.challenge * c.challenge +
      W.goal * c.goal +
      W.review * c.review +
      W.preferred * c.preferred -
      W.recent * c.recent
    );
  }

  function components(i: number, it: CatalogItem) {
    const sk = pc.itemSkills[i]!;
    let gap = 0;
    let due = 0;
    let goal = 0;
    for (let j = 0; j < sk.length; j++) {
      const s = sk[j]!;
      if (!mastered[s]) gap += 1 - m[s]!;
      else if (lastSkill[s]! > Number.NEGATIVE_INFINITY) {
        const d = 1 - 2 ** (-Math.max(0, input.now - lastSkill[s]!) / (opt.reviewHalfLifeDays * DAY_MS));
        if (d > due) due = d;
      }
      if (goalMask?.[s]) goal = Math.max(goal, s === goalIdx ? 1 : 0.6);
    }
    // A lesson is worth most before practice starts; once a skill is half there, exercises teach more.
    const kindFactor = it.kind === 'lesson' ? (gap / sk.length > 0.6 ? 1 : 0.5) : it.kind === 'review' ? 0.6 : 1;
    const gain = (gap / sk.length) * kindFactor;
    const p = clamp01(input.pSuccess(it));
    const dist = p < lo ? lo - p : p > hi ? p - hi : 0;
    const challenge = 1 - Math.min(1, dist / 0.3);
    const review = due * (it.kind === 'review' ? 1 : 0.5);
    const last = lastItem.get(i);
    const recent = last
      ? 2 ** (-Math.max(0, input.now - last.at) / (opt.recentHalfLifeHours * HOUR)) + (last.correct ? 0.2 : 0)
      : 0;
    return { gain, challenge, goal, review, preferred: preferred.has(it.kind) ? 1 : 0, recent, p, due, last };
  }

  const out: Recommendation[] = topIdx.map((i, r) => {
    const it = items[i]!;
    const c = components(i, it);
    const reasons: string[] = [];
    const weak = [...pc.itemSkills[i]!].filter((s) => !mastered[s]);
    if (weak.length > 0) {
      reasons.push(`builds ${weak.map((s) => `${pc.skillNames[s]} (mastery ${pct(m[s]!)})`).join(', ')}`);
    }
    if (c.challenge >= 1) reasons.push(`right level of challenge (expected success ${pct(c.p)})`);
    else if (c.p < lo) reasons.push(`a stretch (expected success ${pct(c.p)})`);
    else reasons.push(`on the easy side (expected success ${pct(c.p)})`);
    if (c.goal === 1) reasons.push(`practises the goal skill ${pc.skillNames[goalIdx!]}`);
    else if (c.goal > 0) reasons.push(`prerequisite on the path to ${pc.skillNames[goalIdx!]}`);
    if (c.review > 0.25) reasons.push(`review: mastered skill not practised for ${Math.round(ageDays(i))} days`);
    if (c.preferred) reasons.push(`preferred kind (${it.kind})`);
    if (c.last && c.recent > 0.1) reasons.push(`done before (penalised)`);
    return { itemId: it.id, score: round4(topScore[r]!), reasons };
  });

  function ageDays(i: number): number {
    let newest = Number.NEGATIVE_INFINITY;
    for (const s of pc.itemSkills[i]!) if (mastered[s] && lastSkill[s]! > newest) newest = lastSkill[s]!;
    return (input.now - newest) / DAY_MS;
  }

  return { items: out, rationale: buildRationale(out, pc, input.goal, goalIdx) };
}

/** Keeps the best `k` in order (score desc, id asc); k is small, so insertion is cheapest. */
function insertTop(idx: number[], score: number[], i: number, s: number, k: number, items: readonly CatalogItem[]): void {
  if (k === 0) return;
  const better = (a: number, sa: number, b: number, sb: number) => sa > sb || (sa === sb && items[a]!.id < items[b]!.id);
  if (idx.length === k && !better(i, s, idx[k - 1]!, score[k - 1]!)) return;
  let pos = idx.length === k ? k - 1 : idx.length;
  if (idx.length < k) {
    idx.push(i);
    score.push(s);
  }
  while (pos > 0 && better(i, s, idx[pos - 1]!, score[pos - 1]!)) {
    idx[pos] = idx[pos - 1]!;
    score[pos] = score[pos - 1]!;
    pos--;
  }
  idx[pos] = i;
  score[pos] = s;
}

function buildRationale(items: Recommendation[], pc: PreparedCatalog, goal: string | undefined, goalIdx: number | undefined): string {
  if (items.length === 0) {
    return 'Nothing to recommend right now: every visible item is either mastered and recently practised or blocked by an unmastered prerequisite.';
  }
  const parts: string[] = [];
  const goalText =
    goal === undefined ? '' : goalIdx === undefined ? ` (goal '${goal}' is not in the catalog, so it was ignored)` : ` towards ${pc.skillNames[goalIdx]}`;
  parts.push(`${items.length} item${items.length === 1 ? '' : 's'} picked${goalText}.`);
  const building = new Set<string>();
  for (const r of items) for (const reason of r.reasons) if (reason.startsWith('builds ')) building.add(reason.slice(7).replace(/ \(mastery [^)]*\)/g, ''));
  if (building.size > 0) parts.push(`They build ${[...building].slice(0, 3).join('; ')}.`);
  const reviews = items.filter((r) => r.reasons.some((x) => x.startsWith('review:'))).length;
  if (reviews > 0) parts.push(`${reviews} revisit${reviews === 1 ? 's' : ''} skills not practised for a while.`);
  const inBand = items.filter((r) => r.reasons.some((x) => x.startsWith('right level'))).length;
  parts.push(`${inBand} of ${items.length} sit in the target success band, where practice teaches most.`);
  return parts.join(' ');
}

function clamp01(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

function round4(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
