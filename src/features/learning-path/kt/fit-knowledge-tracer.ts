import { groupByUser, type Attempt } from './attempt.js';
import { DEFAULT_FEATURE_SPEC, FeatureEncoder, type FeatureSpec, type Vocabulary } from './feature-encoder.js';
import type { KtParams } from './kt-params.js';
import { minimizeLbfgs } from './lbfgs.js';
import { emptyLearnerState } from './learner-state.js';
import { auc } from './metrics.js';
import {
  identityParametrisation,
  monotoneParametrisation,
  pullBack,
  toWeights,
  type Parametrisation,
} from './monotone-parametrisation.js';

export interface FitOptions {
  spec?: FeatureSpec;
  /**
   * L2 penalty as a prior precision on each weight (penalty l2/2 * |w|^2 added to the summed,
   * not averaged, log loss, so the same value means the same prior whatever the data size).
   * A number fixes it; a list is searched on a held-out share of users.
   */
  l2?: number | readonly number[];
  /** Share of users held out when choosing l2 (the final fit then uses every row). */
  validationFraction?: number;
  /** L-BFGS iterations per fit; warm-started and preconditioned, ~20 gets within 0.001 AUC of convergence. */
  maxIter?: number;
  /** Iterations per candidate during the l2 search: enough to rank candidates, not to finish. */
  searchIter?: number;
  /** Pseudo-attempts pulling a rarely seen item's base rate towards its skill's. */
  baseSmoothing?: number;
  /**
   * Constrain the weights so that a correct answer never lowers mastery or the prediction
   * and a wrong one never raises them, whatever the learner's history (ADR 0015). On by
   * default; false is the unconstrained Best-LR fit, kept for comparison.
   */
  monotone?: boolean;
}

/** Around a unit-variance prior, a decade each way: generic, not tuned to one data set. */
const DEFAULT_L2_GRID = [10, 3, 1, 0.3];

export interface FitReport {
  l2: number;
  validation: { l2: number; auc: number; logLoss: number; iterations: number }[];
  iterations: number;
}

export function fitKnowledgeTracer(rows: readonly Attempt[], opts: FitOptions = {}): KtParams {
  return fitKnowledgeTracerWithReport(rows, opts).params;
}

export function fitKnowledgeTracerWithReport(
  rows: readonly Attempt[],
  opts: FitOptions = {},
): { params: KtParams; report: FitReport } {
  if (rows.length === 0) throw new Error('fitKnowledgeTracer: no rows');
  const spec = opts.spec ?? DEFAULT_FEATURE_SPEC;
  const smoothing = opts.baseSmoothing ?? 10;
  const maxIter = opts.maxIter ?? 20;
  const searchIter = opts.searchIter ?? 12;
  const parametrise = opts.monotone === false ? identityParametrisation : monotoneParametrisation;
  const grid = typeof opts.l2 === 'number' ? [opts.l2] : [...(opts.l2 ?? DEFAULT_L2_GRID)].sort((a, b) => b - a);
  const validation: FitReport['validation'] = [];
  let l2 = grid[0]!;
  let warm: { par: Parametrisation; enc: FeatureEncoder; c: Float64Array } | undefined;

  if (grid.length > 1) {
    const frac = opts.validationFraction ?? 0.2;
    const fitRows: Attempt[] = [];
    const valRows: Attempt[] = [];
    for (const r of rows) (heldOut(r.userId, frac) ? valRows : fitRows).push(r);
    if (fitRows.length > 0 && valRows.length > 0) {
      const enc = new FeatureEncoder(buildVocabulary(fitRows, smoothing), spec);
      const par = parametrise(enc);
      const train = encodeRows(enc, fitRows);
      const val = encodeRows(enc, valRows, false);
      let c: Float64Array = new Float64Array(par.dim);
      let best = Number.POSITIVE_INFINITY;
      // Strong to weak penalty with warm starts: each fit starts near its neighbour's optimum.
      for (const lambda of grid) {
        const r = fit(train, par, lambda, c, searchIter);
        const p = predictAll(val, toWeights(par, r.c, new Float64Array(par.wDim)));
        const ll = meanLogLoss(val.y, p);
        validation.push({ l2: lambda, auc: auc(val.y, p), logLoss: ll, iterations: r.iterations });
        if (ll < best) {
          best = ll;
          l2 = lambda;
          warm = { par, enc, c: r.c };
        }
        c = r.c;
      }
    }
  }

  const vocab = buildVocabulary(rows, smoothing);
  const enc = new FeatureEncoder(vocab, spec);
  const par = parametrise(enc);
  const data = encodeRows(enc, rows);
  const c0 = warm ? remapCoordinates(warm.par, warm.enc, warm.c, par, enc) : new Float64Array(par.dim);
  const fitted = fit(data, par, l2, c0, maxIter);
  // Rounded in c, where rounding keeps every bound, then mapped: rounding w itself could
  // tip a constrained sum such as wW + wA a hair below zero.
  const weights = toWeights(par, Array.from(fitted.c, round6), new Float64Array(par.wDim));
  const params: KtParams = {
    format: 'tutorgate-kt-lr',
    version: 1,
    spec: { windows: [...spec.windows] },
    l2,
    itemIds: [...vocab.itemIds],
    itemBase: Array.from(vocab.itemBase, round6),
    skillIds: [...vocab.skillIds],
    skillBase: Array.from(vocab.skillBase, round6),
    globalBase: round6(vocab.globalBase),
    itemCount: Array.from(vocab.itemCount),
    smoothing,
    weights: Array.from(weights),
  };
  return { params, report: { l2, validation, iterations: fitted.iterations } };
}

/** Minimises over c (w = M c, c >= lower); the loss and the L2 prior are on w, as before. */
function fit(d: Design, par: Parametrisation, l2: number, c0: Float64Array, maxIter: number) {
  // Scale to the mean loss so L-BFGS tolerances mean the same thing at any data size.
  const lambda = l2 / d.y.length;
  const w = new Float64Array(par.wDim);
  const gw = new Float64Array(par.wDim);
  const r = minimizeLbfgs(
    (c, gc) => {
      const f = objective(d, toWeights(par, c, w), gw, lambda);
      pullBack(par, gw, gc);
      return f;
    },
    c0,
    { maxIter, invDiag: inverseDiagonal(d, par, lambda), lower: par.lower },
  );
  return { c: r.w, iterations: r.iterations };
}

/** Carries coordinates across vocabularies by id, so the final fit starts from the chosen model. */
function remapCoordinates(
  fromPar: Parametrisation,
  from: FeatureEncoder,
  c: Float64Array,
  toPar: Parametrisation,
  to: FeatureEncoder,
): Float64Array {
  const out = new Float64Array(toPar.dim);
  out.set(c.subarray(0, fromPar.globalDim));
  const width = toPar.perSkill;
  const skillPos = new Map(from.vocab.skillIds.map((id, i) => [id, i]));
  to.vocab.skillIds.forEach((id, i) => {
    const j = skillPos.get(id);
    if (j === undefined) return;
    for (let k = 0; k < width; k++) out[toPar.skillOffset + width * i + k] = c[fromPar.skillOffset + width * j + k]!;
  });
  to.vocab.itemIds.forEach((id, i) => {
    const j = from.itemIdx(id);
    if (j >= 0) out[toPar.itemOffset + i] = c[fromPar.itemOffset + j]!;
  });
  return out;
}

/** Deterministic user split, so refits on the same data pick the same l2. */
function heldOut(userId: string, frac: number): boolean {
  let h = 0x811c9dc5;
  for (let i = 0; i < userId.length; i++) h = Math.imul(h ^ userId.charCodeAt(i), 0x01000193);
  return (h >>> 0) / 0x100000000 < frac;
}

function round6(x: number): number {
  return Number(x.toPrecision(6));
}

export function buildVocabulary(rows: readonly Attempt[], smoothing: number): Vocabulary {
  let wins = 0;
  const skillN = new Map<string, [number, number]>();
  const itemN = new Map<string, [number, number, readonly string[]]>();
  for (const r of rows) {
    const y = r.correct ? 1 : 0;
    wins += y;
    for (const s of r.skillIds) {
      const c = skillN.get(s);
      if (c) {
        c[0]++;
        c[1] += y;
      } else skillN.set(s, [1, y]);
    }
    const c = itemN.get(r.itemId);
    if (c) {
      c[0]++;
      c[1] += y;
    } else itemN.set(r.itemId, [1, y, r.skillIds]);
  }
  const globalBase = wins / rows.length;
  const skillIds = [...skillN.keys()];
  const skillBaseById = new Map<string, number>();
  const skillBase = skillIds.map((s) => {
    const [n, w] = skillN.get(s)!;
    const b = (w + smoothing * globalBase) / (n + smoothing);
    skillBaseById.set(s, b);
    return b;
  });
  const itemIds = [...itemN.keys()];
  const itemBase = itemIds.map((id) => {
    const [n, w, skills] = itemN.get(id)!;
    const prior = skills.length > 0 ? skills.reduce((a, s) => a + skillBaseById.get(s)!, 0) / skills.length : globalBase;
    return (w + smoothing * prior) / (n + smoothing);
  });
  const itemCount = itemIds.map((id) => itemN.get(id)![0]);
  return { itemIds, skillIds, itemBase, skillBase, globalBase, itemCount, smoothing };
}

interface Design {
  /** Shared features, row-major, `g` per row: always present, so no index indirection. */
  g: number;
  /** Float32 halves the memory streamed per pass; features are log-counts, so no precision lost that matters. */
  dense: Float32Array;
  rowPtr: Int32Array;
  idx: Int32Array;
  val: Float64Array;
  y: Uint8Array;
}

/** Replays each user's attempts in order, recording the features seen *before* each answer. */
export function encodeRows(enc: FeatureEncoder, rows: readonly Attempt[], leaveOneOut = true): Design {
  let cap = 0;
  for (const r of rows) cap += enc.maxSparse(r.skillIds.length);
  const g = enc.globalDim;
  const dense = new Float32Array(rows.length * g);
  const rowDense = new Float64Array(g);
  const idx = new Int32Array(cap);
  const val = new Float64Array(cap);
  const rowPtr = new Int32Array(rows.length + 1);
  const y = new Uint8Array(rows.length);
  let nnz = 0;
  let row = 0;
  for (const userRows of groupByUser(rows).values()) {
    const state = emptyLearnerState();
    for (const r of userRows) {
      const label = r.correct ? 1 : 0;
      nnz = enc.encode(state, r.itemId, r.skillIds, rowDense, 0, idx, val, nnz, leaveOneOut ? label : -1);
      dense.set(rowDense, row * g);
      y[row] = label;
      rowPtr[++row] = nnz;
      enc.update(state, r.itemId, r.skillIds, r.correct, leaveOneOut);
    }
  }
  return { g, dense, rowPtr, idx, val, y };
}

function margin(d: Design, w: Float64Array, r: number): number {
  const g = d.g;
  const base = r * g;
  let z = 0;
  for (let j = 0; j < g; j++) z += w[j]! * d.dense[base + j]!;
  for (let k = d.rowPtr[r]!; k < d.rowPtr[r + 1]!; k++) z += w[d.idx[k]!]! * d.val[k]!;
  return z;
}

function objective(d: Design, w: Float64Array, grad: Float64Array, l2: number): number {
  grad.fill(0);
  const n = d.y.length;
  const gd = d.g;
  let loss = 0;
  for (let r = 0; r < n; r++) {
    const z = margin(d, w, r);
    const yv = d.y[r]!;
    // One exp serves both the stable loss log(1 + e^-m), m = ±z, and the sigmoid.
    const m = yv ? z : -z;
    const ea = Math.exp(-Math.abs(z));
    loss += m > 0 ? Math.log1p(ea) : -m + Math.log1p(ea);
    const sig = z >= 0 ? 1 / (1 + ea) : ea / (1 + ea);
    const e = sig - yv;
    const base = r * gd;
    for (let j = 0; j < gd; j++) grad[j]! += e * d.dense[base + j]!;
    for (let k = d.rowPtr[r]!; k < d.rowPtr[r + 1]!; k++) grad[d.idx[k]!]! += e * d.val[k]!;
  }
  let reg = 0;
  for (let i = 0; i < w.length; i++) {
    grad[i] = grad[i]! / n;
    // The bias is left unpenalised so shrinkage pulls towards the base rate, not 50 %.
    if (i > 0) {
      reg += w[i]! * w[i]!;
      grad[i]! += l2 * w[i]!;
    }
  }
  return loss / n + 0.5 * l2 * reg;
}

/**
 * Inverse of a bound on the Hessian diagonal in c (p(1-p) <= 1/4), for preconditioning:
 * 1/4 of the mean square of each coordinate's own feature (sum_i M_ij x_i, e.g. lW - lA,
 * far smaller than lW or lA alone) plus its share of the L2 prior.
 */
function inverseDiagonal(d: Design, par: Parametrisation, l2: number): Float64Array {
  const h = new Float64Array(par.dim);
  const n = d.y.length;
  const x = new Float64Array(par.wDim);
  // Columns beyond the global block touch only sparse weights; find them per row by weight.
  const colsOf = new Map<number, number[]>();
  for (let j = par.globalDim; j < par.dim; j++) {
    for (let k = par.colPtr[j]!; k < par.colPtr[j + 1]!; k++) {
      const r = par.rows[k]!;
      const list = colsOf.get(r);
      if (list) list.push(j);
      else colsOf.set(r, [j]);
    }
  }
  const seen = new Int32Array(par.dim).fill(-1);
  const feature = (j: number) => {
    let s = 0;
    for (let k = par.colPtr[j]!; k < par.colPtr[j + 1]!; k++) s += par.coefs[k]! * x[par.rows[k]!]!;
    return s;
  };
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < d.g; j++) x[j] = d.dense[r * d.g + j]!;
    for (let k = d.rowPtr[r]!; k < d.rowPtr[r + 1]!; k++) x[d.idx[k]!]! += d.val[k]!;
    for (let j = 0; j < par.globalDim; j++) h[j]! += feature(j) ** 2;
    for (let k = d.rowPtr[r]!; k < d.rowPtr[r + 1]!; k++) {
      for (const j of colsOf.get(d.idx[k]!) ?? []) {
        if (seen[j] === r) continue;
        seen[j] = r;
        h[j]! += feature(j) ** 2;
      }
    }
    for (let k = d.rowPtr[r]!; k < d.rowPtr[r + 1]!; k++) x[d.idx[k]!] = 0;
  }
  for (let j = 0; j < par.dim; j++) {
    let prior = 0;
    // The bias is unpenalised (see objective), so its coordinate gets no prior curvature.
    for (let k = par.colPtr[j]!; k < par.colPtr[j + 1]!; k++) if (par.rows[k]! > 0) prior += par.coefs[k]! ** 2;
    h[j] = 1 / (0.25 * (h[j]! / n) + l2 * prior + 1e-12);
  }
  return h;
}

function predictAll(d: Design, w: Float64Array): Float64Array {
  const p = new Float64Array(d.y.length);
  for (let r = 0; r < p.length; r++) p[r] = 1 / (1 + Math.exp(-margin(d, w, r)));
  return p;
}

function meanLogLoss(y: Uint8Array, p: Float64Array): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) {
    const q = Math.min(1 - 1e-12, Math.max(1e-12, p[i]!));
    s -= y[i] ? Math.log(q) : Math.log(1 - q);
  }
  return s / y.length;
}
