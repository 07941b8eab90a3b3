import { FeatureEncoder } from './feature-encoder.js';
import type { KtParams } from './kt-params.js';
import type { LearnerState } from './learner-state.js';

export { emptyLearnerState } from './learner-state.js';

const SCRATCH = 256;

/**
 * Online predictor over fitted KtParams. predict/mastery are pure; update mutates the given
 * state in place and returns it (so callers may chain or reassign). The hot path reuses
 * scratch buffers and allocates only the first time a learner meets a skill or item.
 */
export class KnowledgeTracer {
  private readonly enc: FeatureEncoder;
  private readonly w: Float64Array;
  private readonly dense: Float64Array;
  private idx = new Int32Array(SCRATCH);
  private val = new Float64Array(SCRATCH);

  constructor(readonly params: KtParams) {
    if (params.format !== 'tutorgate-kt-lr' || params.version !== 1) {
      throw new Error(`unsupported KT params ${String(params.format)} v${String(params.version)}`);
    }
    this.enc = new FeatureEncoder(
      {
        itemIds: params.itemIds,
        skillIds: params.skillIds,
        itemBase: params.itemBase,
        skillBase: params.skillBase,
        globalBase: params.globalBase,
        itemCount: params.itemCount,
        smoothing: params.smoothing,
      },
      params.spec,
    );
    if (params.weights.length !== this.enc.dim) {
      throw new Error(`KT params: ${params.weights.length} weights, layout needs ${this.enc.dim}`);
    }
    this.w = Float64Array.from(params.weights);
    this.dense = new Float64Array(this.enc.globalDim);
  }

  /** P(correct) on this item now, before the answer is revealed. */
  predict(state: LearnerState, itemId: string, skillIds: readonly string[]): number {
    return this.score(state, itemId, skillIds);
  }

  update(state: LearnerState, itemId: string, skillIds: readonly string[], correct: boolean): LearnerState {
    this.enc.update(state, itemId, skillIds, correct);
    return state;
  }

  /**
   * P(correct) on a typical item of the skill (its item one-hot left at zero), given the
   * learner's record. Skills the model never saw still move with the learner's counts
   * through the shared weights.
   */
  mastery(state: LearnerState, skillId: string): number {
    return this.score(state, undefined, [skillId]);
  }

  private score(state: LearnerState, itemId: string | undefined, skillIds: readonly string[]): number {
    const need = this.enc.maxSparse(skillIds.length);
    if (need > this.idx.length) {
      this.idx = new Int32Array(need);
      this.val = new Float64Array(need);
    }
    const n = this.enc.encode(state, itemId, skillIds, this.dense, 0, this.idx, this.val, 0);
    const w = this.w;
    let z = 0;
    for (let g = 0; g < this.dense.length; g++) z += w[g]! * this.dense[g]!;
    for (let k = 0; k < n; k++) z += w[this.idx[k]!]! * this.val[k]!;
    return 1 / (1 + Math.exp(-z));
  }
}
