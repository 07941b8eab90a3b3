import { groupByUser, type Attempt } from './attempt.js';
import { DEFAULT_FEATURE_SPEC, FeatureEncoder, type FeatureSpec, type Vocabulary } from './feature-encoder.js';
import type { KtParams } from './kt-params.js';
import { minimizeLbfgs } from './lbfgs.js';
import { emptyLearnerState } from './learner-state.js';
import { auc } from './metrics.js';

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
  const grid = typeof opts.l2 === 'number' ? [opts.l2] : [...(opts.l2 ?? DEFAULT_L2_GRID)].sort((a, b) => b - a);
  const validation: FitReport['validation'] = [];
  let l2 = grid[0]!;
  let warm: { enc: FeatureEncoder; w: Float64Array } | undefined;

  if (grid.length > 1) {
    const frac = opts.validationFraction ?? 0.2;
    const fitRows: Attempt[] = [];
    const valRows: Attempt[] = [];
    for (const r of rows) (heldOut(r.userId, frac) ? valRows : fitRows).push(r);
    if (fitRows.length > 0 && valRows.length > 0) {
      const enc = new FeatureEncoder(buildVocabulary(fitRows, smoothing), spec);
      const train = encodeRows(enc, fitRows);
      const val = encodeRows(enc, valRows, false);
      let w: Float64Array = new Float64Array(enc.dim);
      let best = Number.POSITIVE_INFINITY;
      // Strong to weak penalty with warm starts: each fit starts near its neighbour's optimum.
      for (const lambda of grid) {
        const r = fit(train, enc.dim, lambda, w, searchIter);
        const p = predictAll(val, r.w);
        const ll = meanLogLoss(val.y, p);
        validation.push({ l2: lambda, auc: auc(val.y, p), logLoss: ll, iterations: r.iterations });
        if (ll < best) {
          best = ll;
          l2 = lambda;
          warm = { enc, w: r.w };
        }
        w = r.w;
      }
    }
  }

  const vocab = buildVocabulary(rows, smoothing);
  const enc = new FeatureEncoder(vocab, spec);
  const data = encodeRows(enc, rows);
  const w0 = warm ? remapWeights(warm.enc, warm.w, enc) : new Float64Array(enc.dim);
  const fitted = fit(data, enc.dim, l2, w0, maxIter);
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
    weights: Array.from(fitted.w, round6),
  };
  return { params, report: { l2, validation, iterations: fitted.iterations } };
}

function fit(d: Design, dim: number, l2: number, w0: Float64Array, maxIter: number) {
  // Scale to the mean loss so L-BFGS tolerances mean the same thing at any data size.
  const lambda = l2 / d.y.length;
  return minimizeLbfgs((x, g) => objective(d, x, g, lambda), w0, {
    maxIter,
    invDiag: inverseDiagonal(d, dim, lambda),
  });
}

/** Carries weights across vocabularies by id, so the final fit starts from the chosen model. */
function remapWeights(from: FeatureEncoder, w: Float64Array, to: FeatureEncoder): Float64Array {
  const out = new Float64Array(to.dim);
  out.set(w.subarray(0, from.globalDim));
  const skillPos = new Map(from.vocab.skillIds.map((id, i) => [id, i]));
  to.vocab.skillIds.forEach((id, i) => {
    const j = skillPos.get(id);
    if (j === undefined) return;
    for (let k = 0; k < 4; k++) out[to.skillOffset + 4 * i + k] = w[from.skillOffset + 4 * j + k]!;
  });
  to.vocab.itemIds.forEach((id, i) => {
    const j = from.itemIdx(id);
    if (j >= 0) out[to.itemOffset + i] = w[from.itemOffset + j]!;
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

/** Inverse of a bound on the Hessian diagonal (p(1-p) <= 1/4), for preconditioning. */
function inverseDiagonal(d: Design, dim: number, l2: number): Float64Array {
  const h = new Float64Array(dim);
  const n = d.y.length;
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < d.g; j++) h[j]! += d.dense[r * d.g + j]! ** 2;
  }
  for (let k = 0; k < d.rowPtr[n]!; k++) h[d.idx[k]!]! += d.val[k]! * d.val[k]!;
  for (let i = 0; i < dim; i++) h[i] = 1 / (0.25 * (h[i]! / n) + (i > 0 ? l2 : 0) + 1e-12);
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
