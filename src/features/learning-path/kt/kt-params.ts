import type { FeatureSpec } from './feature-encoder.js';

/** Fitted knowledge-tracing model; plain JSON so it can be stored and shipped. */
export interface KtParams {
  format: 'tutorgate-kt-lr';
  version: 1;
  spec: FeatureSpec;
  /** L2 strength the weights were fitted with (chosen on a validation split unless given). */
  l2: number;
  itemIds: string[];
  itemBase: number[];
  skillIds: string[];
  skillBase: number[];
  globalBase: number;
  itemCount: number[];
  smoothing: number;
  /** Flat weight vector laid out by FeatureEncoder (globals, per-skill block, item one-hots). */
  weights: number[];
}
