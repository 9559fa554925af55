/**
 * The arithmetic of BatchNormalization folding, on plain arrays.
 *
 * In inference, BN is a per-channel affine map
 *   BN(y) = γ·(y − μ)/√(σ² + ε) + β = s·y + t,  s = γ/√(σ² + ε),  t = β − μ·s,
 * so for y = x∗W + b (∗ = matmul, convolution or depthwise convolution, all
 * linear in W and acting per output channel k):
 *   BN(y)[k] = x∗(W·s)[k] + (b·s + t)[k],  i.e.  W' = W·s,  b' = b·s + t = (b − μ)·s + β.
 *
 * Kept separate from the graph rewrite so QAT can fold with the batch
 * statistics (μ_B, σ²_B) of each step instead of the moving ones, as
 * Jacob et al. 2018 (§3.2) and tfmot's folded Conv2D+BN do.
 */
import type { WeightData } from '../graph/types.js';

/** BatchNormalization parameters; γ and β are absent for scale=false / center=false (γ = 1, β = 0). */
export interface BnStatistics {
  gamma?: ArrayLike<number>;
  beta?: ArrayLike<number>;
  /** μ: the moving mean, or the batch mean μ_B in QAT. */
  mean: ArrayLike<number>;
  /** σ²: the moving variance, or the (biased) batch variance σ²_B in QAT. */
  variance: ArrayLike<number>;
  epsilon: number;
}

/** Per-channel affine form of a BN: BN(y)[k] = scale[k]·y[k] + shift[k]. */
export interface ChannelAffine {
  scale: Float32Array;
  shift: Float32Array;
}

/** s = γ/√(σ² + ε) and t = β − μ·s per channel (computed in float64, stored as float32). */
export function foldScale(stats: BnStatistics): ChannelAffine {
  const n = stats.mean.length;
  for (const [name, v] of [['variance', stats.variance], ['gamma', stats.gamma], ['beta', stats.beta]] as const) {
    if (v && v.length !== n) throw new Error(`BN ${name} has ${v.length} channels but the mean has ${n}`);
  }
  const scale = new Float32Array(n);
  const shift = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    const s = (stats.gamma?.[k] ?? 1) / Math.sqrt(stats.variance[k]! + stats.epsilon);
    scale[k] = s;
    shift[k] = (stats.beta?.[k] ?? 0) - stats.mean[k]! * s;
  }
  return { scale, shift };
}

/**
 * A BN's inference map BN(y) = y·scale + offset in float32, as TensorFlow
 * computes it (tf.nn.batch_normalization, and the constants TFLite's converter
 * folds a BatchNormalization with no layer before it into, its MUL and ADD):
 *   inv = rsqrt(σ² + ε) · γ,  offset = β − μ·inv,
 * every operation rounded to float32. ε is the BN's own epsilon (Keras's
 * default 1e-3; keras.applications' DenseNet and ResNet 1.001e-5), itself
 * rounded to float32 as TF casts it; rsqrt is taken as 1/√ (√ then the
 * division, each correctly rounded). TF's fused kernel raises an ε below
 * 1.001e-5 to that floor (cuDNN's minimum); the studio computes the BN with
 * the ε the model holds, as Keras 3 and TF.js do, so that floor is not applied.
 * γ and β absent (scale=false / center=false) are 1 and 0.
 */
export function batchNormAffine(stats: BnStatistics): ChannelAffine {
  const n = stats.mean.length;
  for (const [name, v] of [['variance', stats.variance], ['gamma', stats.gamma], ['beta', stats.beta]] as const) {
    if (v && v.length !== n) throw new Error(`BN ${name} has ${v.length} channels but the mean has ${n}`);
  }
  const f = Math.fround;
  const eps = f(stats.epsilon);
  const scale = new Float32Array(n);
  const offset = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    const inv = f(1 / f(Math.sqrt(f(f(stats.variance[k]!) + eps))));
    const s = stats.gamma ? f(inv * f(stats.gamma[k]!)) : inv;
    scale[k] = s;
    offset[k] = f(f(stats.beta?.[k] ?? 0) - f(f(stats.mean[k]!) * s));
  }
  return { scale, shift: offset };
}

/**
 * W'[…, k] = W[…, k]·s[k]. In all three Keras layouts the output channel is
 * the flat index modulo the channel count: Dense [in,out] and Conv2D
 * [kh,kw,in,out] have it last, DepthwiseConv2D [kh,kw,in,mult] has output
 * channel c·mult + m at [.., .., c, m], i.e. its last two axes read as one.
 */
export function scaleKernel(kernel: WeightData, scale: ArrayLike<number>): WeightData {
  const channels = scale.length;
  if (!trailingProducts(kernel.shape).includes(channels)) {
    throw new Error(`a kernel of shape [${kernel.shape.join(',')}] has no trailing axes holding ${channels} output channels`);
  }
  const values = new Float32Array(kernel.values.length);
  for (let i = 0; i < values.length; i++) values[i] = kernel.values[i]! * scale[i % channels]!;
  return { shape: [...kernel.shape], values };
}

/** b' = b·s + t, with b = 0 when the layer had no bias. */
export function foldBias(bias: WeightData | undefined, affine: ChannelAffine): WeightData {
  const n = affine.scale.length;
  if (bias && bias.values.length !== n) throw new Error(`a bias of ${bias.values.length} values cannot take a BN of ${n} channels`);
  const values = new Float32Array(n);
  for (let k = 0; k < n; k++) values[k] = (bias?.values[k] ?? 0) * affine.scale[k]! + affine.shift[k]!;
  return { shape: [n], values };
}

/** [last, last·second-to-last, …]: the channel counts a kernel's trailing axes can hold. */
function trailingProducts(shape: readonly number[]): number[] {
  const out: number[] = [];
  let p = 1;
  for (let i = shape.length - 1; i >= 0; i--) out.push((p *= shape[i]!));
  return out;
}
