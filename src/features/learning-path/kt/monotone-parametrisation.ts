import {
  G_BIAS,
  G_DIFF,
  G_ITEM,
  G_RESIDUAL,
  G_SKILL,
  G_TOTAL,
  G_WINDOWS,
  PER_SKILL,
  type FeatureEncoder,
} from './feature-encoder.js';

/**
 * The fitter's coordinates c and the encoder's weights w = M c, with c >= lower.
 * The identity (M = I, no bounds) is the unconstrained Best-LR fit; the monotone one makes
 * "a correct answer never lowers z, a wrong one never raises it" hold for every learner state.
 *
 * Why (ADR 0015). An answer on skill s changes these features of mastery(s) and predict(item):
 *
 * - Counts, per scope (all answers, the skill, and the skill's own block): lA = log(1+A),
 *   lW = log(1+W), lF = log(1+F), A = W + F. A correct answer raises A and W; a wrong one A
 *   and F. Since W <= A, the step log((W+2)/(W+1)) of lW is at least that of lA (and at most
 *   log 2 while lA's tends to 0); likewise for F. So z is monotone for every state iff
 *   wW >= 0, wF <= 0 and -wW <= wA <= -wF: a cone, not a box, whose edges are the four
 *   features lW - lA, lW, -lF, lA - lF. Each of them moves the right way by itself, so
 *   w = sum of c_k * edge_k with c_k >= 0 is exactly the monotone set.
 * - Residual, per scope: R/(A+2), R = sum of (y - b) over past answers, b in (0,1) the item's
 *   base rate. It is an average, so it can FALL after a correct answer on an easy item
 *   (b near 1) by up to W/((A+2)(A+3)); no sign on its own weight fixes that (only zero
 *   does). But with -F <= R <= W, the combination lW - lF + R/(A+2) is monotone: after a
 *   correct answer lW rises by log(1+1/(W+1)) >= 1/(W+2) while the residual falls by at most
 *   W/((W+2)(W+3)), leaving >= 3/((W+2)(W+3)) > 0; a wrong answer mirrors it with F. So the
 *   residual enters only through that fifth edge, and its weight never exceeds wW or -wF.
 * - Item counts (predict on the item just answered): lA and lW only, edges lW and lW - lA.
 * - Recent windows of length L: wins and fails among the last min(L, A) answers. A correct
 *   answer adds a win and pushes out the oldest answer once the window is full, so wins
 *   rise by 1 or 0 and fails fall by 1 or 0 (never the other way); a wrong answer mirrors
 *   it. Exactly monotone iff the wins weight >= 0 and the fails weight <= 0: a box.
 * - Bias, difficulty (the item's or skill's base rate, fixed by the params) and the skill
 *   and item one-hots do not move with the learner's answers: free.
 *
 * A sum of monotone terms is monotone, so the per-skill blocks are constrained on their own
 * rather than with the shared weights they add to (slightly stricter than needed, simpler).
 * Answers on another skill move mastery(s) only through the all-answers scope, which is
 * monotone too: a correct answer anywhere never lowers any mastery.
 */
export interface Parametrisation {
  /** Number of coordinates c. */
  readonly dim: number;
  /** Number of weights w (the encoder's dim). */
  readonly wDim: number;
  /** c is laid out like w: global block, one block per known skill, one coordinate per item. */
  readonly globalDim: number;
  readonly skillOffset: number;
  readonly perSkill: number;
  readonly itemOffset: number;
  /** 0 for an edge weight, -Infinity for a free one. */
  readonly lower: Float64Array;
  /** Column j of M, sparse: rows[colPtr[j]..colPtr[j+1]) with coefs. */
  readonly colPtr: Int32Array;
  readonly rows: Int32Array;
  readonly coefs: Float64Array;
}

type Column = [row: number, coef: number][];

export function identityParametrisation(enc: FeatureEncoder): Parametrisation {
  const cols: Column[] = [];
  const lower: number[] = [];
  for (let i = 0; i < enc.dim; i++) {
    cols.push([[i, 1]]);
    lower.push(-Infinity);
  }
  return build(enc, cols, lower, enc.globalDim, PER_SKILL);
}

const PER_SKILL_C = 5; // one-hot, four count edges

export function monotoneParametrisation(enc: FeatureEncoder): Parametrisation {
  const cols: Column[] = [];
  const lower: number[] = [];
  const free = (col: Column) => (cols.push(col), lower.push(-Infinity));
  const edge = (col: Column) => (cols.push(col), lower.push(0));
  const countEdges = (a: number, w: number, f: number) => {
    edge([[w, 1], [a, -1]]);
    edge([[w, 1]]);
    edge([[f, -1]]);
    edge([[a, 1], [f, -1]]);
  };

  free([[G_BIAS, 1]]);
  countEdges(G_TOTAL, G_TOTAL + 1, G_TOTAL + 2);
  edge([[G_TOTAL + 1, 1], [G_TOTAL + 2, -1], [G_RESIDUAL, 1]]);
  countEdges(G_SKILL, G_SKILL + 1, G_SKILL + 2);
  edge([[G_SKILL + 1, 1], [G_SKILL + 2, -1], [G_RESIDUAL + 1, 1]]);
  edge([[G_ITEM + 1, 1]]);
  edge([[G_ITEM + 1, 1], [G_ITEM, -1]]);
  free([[G_DIFF, 1]]);
  for (let o = G_WINDOWS; o < enc.globalDim; o += 4) {
    edge([[o, 1]]); // all answers: wins
    edge([[o + 1, -1]]); // fails
    edge([[o + 2, 1]]); // the skill's: wins
    edge([[o + 3, -1]]); // fails
  }
  const globalDim = cols.length;
  for (let s = 0; s < enc.vocab.skillIds.length; s++) {
    const o = enc.skillOffset + PER_SKILL * s;
    free([[o, 1]]);
    countEdges(o + 1, o + 2, o + 3);
  }
  for (let i = 0; i < enc.vocab.itemIds.length; i++) free([[enc.itemOffset + i, 1]]);
  return build(enc, cols, lower, globalDim, PER_SKILL_C);
}

function build(enc: FeatureEncoder, cols: Column[], lower: number[], globalDim: number, perSkill: number): Parametrisation {
  const colPtr = new Int32Array(cols.length + 1);
  const nnz = cols.reduce((n, c) => n + c.length, 0);
  const rows = new Int32Array(nnz);
  const coefs = new Float64Array(nnz);
  let k = 0;
  cols.forEach((col, j) => {
    for (const [r, v] of col) {
      rows[k] = r;
      coefs[k++] = v;
    }
    colPtr[j + 1] = k;
  });
  const covered = new Uint8Array(enc.dim);
  for (const r of rows) covered[r] = 1;
  if (covered.includes(0)) throw new Error('parametrisation leaves a weight unfitted');
  return {
    dim: cols.length,
    wDim: enc.dim,
    globalDim,
    skillOffset: globalDim,
    perSkill,
    itemOffset: globalDim + perSkill * enc.vocab.skillIds.length,
    lower: Float64Array.from(lower),
    colPtr,
    rows,
    coefs,
  };
}

/** w = M c. */
export function toWeights(p: Parametrisation, c: ArrayLike<number>, w: Float64Array): Float64Array {
  w.fill(0);
  for (let j = 0; j < p.dim; j++) {
    const cj = c[j]!;
    if (cj === 0) continue;
    for (let k = p.colPtr[j]!; k < p.colPtr[j + 1]!; k++) w[p.rows[k]!]! += p.coefs[k]! * cj;
  }
  return w;
}

/** gc = M^T gw: the gradient in c of a function of w. */
export function pullBack(p: Parametrisation, gw: Float64Array, gc: Float64Array): Float64Array {
  for (let j = 0; j < p.dim; j++) {
    let s = 0;
    for (let k = p.colPtr[j]!; k < p.colPtr[j + 1]!; k++) s += p.coefs[k]! * gw[p.rows[k]!]!;
    gc[j] = s;
  }
  return gc;
}
