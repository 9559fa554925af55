/**
 * BatchNormalization at inference (the moving statistics), on NCHW images:
 * what is left of a BatchNorm the fold did not take. Training normalises with
 * the batch's statistics instead, which is the training step's own rule
 * (native/train/ops/dense.ts).
 */
import type { BatchNormNode } from '../../graph/types.js';
import { onnxValue, type OnnxBuilder, type OnnxValue } from '../builder.js';
import { imageInput } from './common.js';

export function lowerBatchNorm(b: OnnxBuilder, n: BatchNormNode, x: OnnxValue): OnnxValue {
  const input = b.layout(imageInput(n, x), true);
  const ch = n.weights.movingMean.values.length;
  const p = (k: string) => `${n.name}/${k}`;
  const gamma = b.f32(n.weights.gamma?.values ?? new Float32Array(ch).fill(1), [ch], p('gamma'));
  const beta = b.f32(n.weights.beta?.values ?? new Float32Array(ch), [ch], p('beta'));
  const mean = b.f32(n.weights.movingMean.values, [ch], p('moving_mean'));
  const variance = b.f32(n.weights.movingVariance.values, [ch], p('moving_variance'));
  return onnxValue(b.op('BatchNormalization', [input.name, gamma, beta, mean, variance], { epsilon: { float: n.epsilon } }, n.name), n.outputShape, true);
}
