import { RECENT_BITS, emptyCounts, type Counts, type LearnerState } from './learner-state.js';

/**
 * Best-LR style features (Gervet et al. 2020): item and skill one-hots plus log(1+count)
 * of prior attempts, successes and failures per skill, per item and overall, recent-window
 * counts, and an online ability residual. The same encoder produces training rows offline
 * and predictions online, so the two can never drift apart.
 *
 * Layout of the weight vector: `globalDim` shared features (always written, dense), then
 * PER_SKILL weights per known skill, then one weight per known item (both sparse).
 */
export interface FeatureSpec {
  /** Recent-window lengths (attempts, not time: the shipped data has no timestamps). */
  windows: number[];
}

export interface Vocabulary {
  itemIds: readonly string[];
  skillIds: readonly string[];
  /** Smoothed success rate per item / skill in the fitting data, for the ability residual. */
  itemBase: ArrayLike<number>;
  skillBase: ArrayLike<number>;
  globalBase: number;
  /** Attempts behind each item's base rate, so training can leave the row's own answer out. */
  itemCount: ArrayLike<number>;
  smoothing: number;
}

export const DEFAULT_FEATURE_SPEC: FeatureSpec = { windows: [1, 3, 10] };

// Offsets of the shared features; monotone-parametrisation.ts constrains weights by them.
export const G_BIAS = 0;
export const G_TOTAL = 1; // attempts, wins, fails
export const G_SKILL = 4; // attempts, wins, fails of the item's skills, shared weights
export const G_ITEM = 7; // attempts, wins on this very item
export const G_RESIDUAL = 9; // overall, skill
export const G_DIFF = 11; // logit of the item's smoothed base rate
export const G_WINDOWS = 12; // per window: total wins, total fails, skill wins, skill fails
export const PER_SKILL = 4; // one-hot, attempts, wins, fails with skill-specific weights

export class FeatureEncoder {
  readonly dim: number;
  readonly globalDim: number;
  readonly skillOffset: number;
  readonly itemOffset: number;
  private readonly itemIndex = new Map<string, number>();
  private readonly skillIndex = new Map<string, number>();
  private readonly windowMasks: number[];
  private readonly windowLens: number[];

  constructor(
    readonly vocab: Vocabulary,
    readonly spec: FeatureSpec = DEFAULT_FEATURE_SPEC,
  ) {
    for (const w of spec.windows) {
      if (!Number.isInteger(w) || w < 1 || w > RECENT_BITS) throw new Error(`window ${w} outside 1..${RECENT_BITS}`);
    }
    vocab.itemIds.forEach((id, i) => this.itemIndex.set(id, i));
    vocab.skillIds.forEach((id, i) => this.skillIndex.set(id, i));
    this.windowLens = [...spec.windows];
    this.windowMasks = spec.windows.map((w) => (1 << w) - 1);
    this.globalDim = G_WINDOWS + 4 * spec.windows.length;
    this.skillOffset = this.globalDim;
    this.itemOffset = this.skillOffset + PER_SKILL * vocab.skillIds.length;
    this.dim = this.itemOffset + vocab.itemIds.length;
  }

  /** Position of the item in the vocabulary, -1 if unknown. */
  itemIdx(itemId: string): number {
    return this.itemIndex.get(itemId) ?? -1;
  }

  /** Upper bound on sparse entries for an item with `nSkills` skills; size buffers with it. */
  maxSparse(nSkills: number): number {
    return PER_SKILL * nSkills + 1;
  }

  /**
   * Features of "this learner now attempts this item", before the answer. Writes all
   * `globalDim` shared features to dense[denseAt..] and the skill/item entries to
   * idx/val[sparseAt..] (offsets rather than subarray views, which would allocate per row);
   * returns the sparse end position. itemId = undefined means a typical item of the skills
   * (used for mastery). Unknown items and skills contribute no one-hot, so the prediction
   * falls back to skill-level and then shared parameters.
   */
  encode(
    state: LearnerState,
    itemId: string | undefined,
    skillIds: readonly string[],
    dense: Float64Array,
    denseAt: number,
    idx: Int32Array,
    val: Float64Array,
    sparseAt: number,
    ownLabel = -1,
  ): number {
    const t = state.total;
    const d = denseAt;
    let n = sparseAt;
    dense[d + G_BIAS] = 1;
    dense[d + G_TOTAL] = Math.log1p(t.attempts);
    dense[d + G_TOTAL + 1] = Math.log1p(t.wins);
    dense[d + G_TOTAL + 2] = Math.log1p(t.attempts - t.wins);

    const nw = this.windowMasks.length;
    for (let wi = 0; wi < nw; wi++) {
      const o = d + G_WINDOWS + 4 * wi;
      const tw = popcount(t.recent & this.windowMasks[wi]!);
      dense[o] = Math.log1p(tw);
      dense[o + 1] = Math.log1p(Math.min(this.windowLens[wi]!, t.attempts) - tw);
      dense[o + 2] = 0;
      dense[o + 3] = 0;
    }

    const k = skillIds.length;
    const share = k > 0 ? 1 / k : 0;
    let sAtt = 0;
    let sWin = 0;
    let sFail = 0;
    let sRes = 0;
    for (let j = 0; j < k; j++) {
      const c = state.skills.get(skillIds[j]!);
      const a = c ? c.attempts : 0;
      const w = c ? c.wins : 0;
      const la = Math.log1p(a);
      const lw = Math.log1p(w);
      const lf = Math.log1p(a - w);
      sAtt += la * share;
      sWin += lw * share;
      sFail += lf * share;
      if (c) {
        sRes += (c.residual / (a + 2)) * share;
        for (let wi = 0; wi < nw; wi++) {
          const o = d + G_WINDOWS + 4 * wi;
          const sw = popcount(c.recent & this.windowMasks[wi]!);
          dense[o + 2]! += Math.log1p(sw) * share;
          dense[o + 3]! += Math.log1p(Math.min(this.windowLens[wi]!, a) - sw) * share;
        }
      }
      const si = this.skillIndex.get(skillIds[j]!);
      if (si !== undefined) {
        const o = this.skillOffset + PER_SKILL * si;
        idx[n] = o;
        val[n++] = share;
        if (a > 0) {
          idx[n] = o + 1;
          val[n++] = la * share;
          idx[n] = o + 2;
          val[n++] = lw * share;
          idx[n] = o + 3;
          val[n++] = lf * share;
        }
      }
    }
    dense[d + G_SKILL] = sAtt;
    dense[d + G_SKILL + 1] = sWin;
    dense[d + G_SKILL + 2] = sFail;
    dense[d + G_RESIDUAL] = t.residual / (t.attempts + 2);
    dense[d + G_RESIDUAL + 1] = sRes;

    dense[d + G_ITEM] = 0;
    dense[d + G_ITEM + 1] = 0;
    const b = itemId === undefined ? this.skillRate(skillIds) : this.baseRate(itemId, skillIds, ownLabel);
    dense[d + G_DIFF] = Math.log(b / (1 - b));
    if (itemId !== undefined) {
      const ic = state.items.get(itemId);
      if (ic) {
        dense[d + G_ITEM] = Math.log1p(ic.attempts);
        dense[d + G_ITEM + 1] = Math.log1p(ic.wins);
      }
      const ii = this.itemIndex.get(itemId);
      if (ii !== undefined) {
        idx[n] = this.itemOffset + ii;
        val[n++] = 1;
      }
    }
    return n;
  }

  /**
   * Smoothed success rate of the item (else its skills, else global). When encoding training
   * rows, `ownLabel` (0/1) removes the row's own answer from the rate: otherwise the model
   * learns to trust in-sample difficulties that it will not get for new learners.
   */
  baseRate(itemId: string, skillIds: readonly string[], ownLabel = -1): number {
    const ii = this.itemIndex.get(itemId);
    if (ii !== undefined) {
      const b = this.vocab.itemBase[ii]!;
      if (ownLabel < 0) return b;
      const m = this.vocab.itemCount[ii]! + this.vocab.smoothing;
      return (b * m - ownLabel) / (m - 1);
    }
    return this.skillRate(skillIds);
  }

  private skillRate(skillIds: readonly string[]): number {
    let s = 0;
    let m = 0;
    for (let j = 0; j < skillIds.length; j++) {
      const si = this.skillIndex.get(skillIds[j]!);
      if (si !== undefined) {
        s += this.vocab.skillBase[si]!;
        m++;
      }
    }
    return m > 0 ? s / m : this.vocab.globalBase;
  }

  /** Records the outcome; mutates `state` in place (allocates only on a first-seen skill/item). */
  update(state: LearnerState, itemId: string, skillIds: readonly string[], correct: boolean, leaveOneOut = false): void {
    const y = correct ? 1 : 0;
    const r = y - this.baseRate(itemId, skillIds, leaveOneOut ? y : -1);
    bump(state.total, correct, r);
    for (let j = 0; j < skillIds.length; j++) {
      const id = skillIds[j]!;
      let c = state.skills.get(id);
      if (!c) state.skills.set(id, (c = emptyCounts()));
      bump(c, correct, r);
    }
    let ic = state.items.get(itemId);
    if (!ic) state.items.set(itemId, (ic = emptyCounts()));
    bump(ic, correct, r);
  }
}

const RECENT_MASK = (1 << RECENT_BITS) - 1;

function bump(c: Counts, correct: boolean, residual: number): void {
  c.attempts++;
  if (correct) c.wins++;
  c.recent = ((c.recent << 1) | (correct ? 1 : 0)) & RECENT_MASK;
  c.residual += residual;
}

function popcount(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}
