/**
 * Bias correction (Nagel et al. 2019, §4.2): quantizing a kernel, W_q = W + ΔW,
 * shifts the layer's expected output by E[ΔW·x] per output channel; that shift
 * is subtracted from the bias, b' = b − E[W_q x − W x].
 *
 *  - analytic (here): E[x] from the BatchNorm statistics of the layer before:
 *    its pre-activation is taken as N(β, γ²) per channel (β, γ of the BN folded
 *    into it, divided by CLE's scales), and through ReLU
 *      E[relu(x)] = μ·Φ(μ/σ) + σ·φ(μ/σ)
 *    (the paper's clipped-normal formula); ReLU6 = relu(x) − relu(x − 6);
 *    linear: μ. Then E[ΔW·x]_o = Σ over the kernel of ΔW·E[x_in] (padding's
 *    zeros at borders are ignored, as in the paper).
 *  - empirical (empirical-bias-correction.ts): E over the calibration split.
 *
 * The kernel's quantization is the run's: the plan's spec per layer, the
 * weight estimator's qparams, TF fake-quant rounding.
 */
import { tf } from '../tfjs.js';
import { weightEstimator, type Estimator } from '../../api/run-config.js';
import type { Activation, Graph, GraphNode, WeightData, WeightedNode } from '../graph/types.js';
import { isWeighted } from '../graph/types.js';
import { createObserver } from '../quant/observers/index.js';
import { fakeQuant } from '../quant/fake-quant.js';
import type { QuantPlan, WeightQuantizer } from './plan.js';
import type { FoldRecord } from './fold-batchnorm.js';
import { outputChannels } from './kernel-axis.js';
import { inputChannelsOf } from './cle-pairs.js';

/** What bias correction did to one layer, for the run summary (and for an export to do it again). */
export interface BiasShift {
  layer: string;
  /** E[W_q x − W x] per output channel: subtracted from the bias. */
  shift: number[];
  /** max |shift|. */
  maxAbs: number;
}

export interface SkippedLayer {
  layer: string;
  reason: string;
}

/** The kernel as the run quantizes it (fake-quant with the weight estimator's qparams), in the kernel's own shape. */
export function quantizedKernel(node: WeightedNode, wq: WeightQuantizer, estimator: Estimator): Float32Array {
  return tf.tidy(() => {
    const kernel = tf.tensor(node.weights.kernel.values, node.weights.kernel.shape, 'float32');
    const view = tf.reshape(kernel, wq.view);
    const axis = wq.axis !== null ? { axis: wq.axis } : {};
    // The run's weight estimator (run-config.ts weightEstimator): exact min/max, or mse's clipping search.
    const obs = createObserver(weightEstimator(estimator), wq.spec, { name: wq.name, ...axis });
    for (let pass = 0; pass < obs.passes; pass++) obs.observe(view, pass);
    return fakeQuant(view, obs.qparams(), { name: wq.name, ...axis }).dataSync() as Float32Array;
  }).slice();
}

/** The graph with b −= shift for each listed layer (a layer without bias gets b = −shift). */
export function applyBiasShifts(graph: Graph, shifts: readonly Pick<BiasShift, 'layer' | 'shift'>[]): Graph {
  const byLayer = new Map(shifts.map((s) => [s.layer, s.shift]));
  const nodes = graph.nodes.map((n): GraphNode => {
    const shift = byLayer.get(n.name);
    if (!shift) return n;
    if (!isWeighted(n)) throw new Error(`bias correction names ${n.name}, which is not a Dense or convolution`);
    const channels = outputChannels(n);
    if (shift.length !== channels) throw new Error(`bias correction of ${n.name} holds ${shift.length} values for ${channels} output channels`);
    const old = n.weights.bias?.values;
    const bias: WeightData = { shape: [channels], values: Float32Array.from(shift, (s, i) => (old?.[i] ?? 0) - s) };
    return { ...n, weights: { ...n.weights, bias } } as WeightedNode;
  });
  return { ...graph, nodes };
}

/** Pre-activation mean and standard deviation per output channel of a layer (from the BN folded into it). */
export interface ChannelGaussian {
  mean: Float64Array;
  std: Float64Array;
}

/**
 * The pre-activation statistics of each layer a BN was folded into (the last
 * BN when two were): mean β, standard deviation |γ| (absent γ = 1, β = 0),
 * each divided by CLE's total output scale of the layer when given.
 */
export function foldedBnStatistics(source: Graph, folded: readonly FoldRecord[], outputScales?: ReadonlyMap<string, Float64Array>): Map<string, ChannelGaussian> {
  const out = new Map<string, ChannelGaussian>();
  for (const f of folded) {
    const bn = source.nodes.find((n) => n.name === f.batchNorm);
    if (bn?.op !== 'batchNorm') continue;
    const n = bn.weights.movingMean.values.length;
    const scale = outputScales?.get(f.layer);
    const mean = Float64Array.from({ length: n }, (_, i) => (bn.weights.beta?.values[i] ?? 0) / (scale?.[i] ?? 1));
    const std = Float64Array.from({ length: n }, (_, i) => Math.abs(bn.weights.gamma?.values[i] ?? 1) / (scale?.[i] ?? 1));
    out.set(f.layer, { mean, std });
  }
  return out;
}

/** Ops between the BN'd layer and the corrected one that keep each channel's expectation (padding's border zeros aside). */
const MEAN_KEEPING: ReadonlySet<GraphNode['op']> = new Set(['dropout', 'zeroPad2d', 'avgPool2d', 'globalAvgPool2d', 'flatten']);

/** Analytic bias correction of every planned kernel whose input's statistics follow from a BN before it. */
export function analyticBiasCorrection(
  graph: Graph,
  plan: QuantPlan,
  estimator: Estimator,
  stats: ReadonlyMap<string, ChannelGaussian>,
): { graph: Graph; shifts: BiasShift[]; skipped: SkippedLayer[] } {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const shifts: BiasShift[] = [];
  const skipped: SkippedLayer[] = [];
  for (const wq of plan.weights) {
    const node = byName.get(wq.layer) as WeightedNode;
    const input = expectedInput(node, byName, stats);
    if ('reason' in input) {
      skipped.push({ layer: node.name, reason: input.reason });
      continue;
    }
    const delta = quantizedKernel(node, wq, estimator);
    const w = node.weights.kernel.values;
    for (let i = 0; i < delta.length; i++) delta[i] = delta[i]! - w[i]!;
    const shift = expectedShift(node, delta, input.mean);
    shifts.push({ layer: node.name, shift, maxAbs: Math.max(...shift.map(Math.abs)) });
  }
  return { graph: applyBiasShifts(graph, shifts), shifts, skipped };
}

/** E[x] per input channel of `node` from the BN statistics of the layer feeding it, or why it cannot be had. */
function expectedInput(node: WeightedNode, byName: Map<string, GraphNode>, stats: ReadonlyMap<string, ChannelGaussian>): { mean: Float64Array } | { reason: string } {
  const activations: { act: Activation; alpha?: number; at: string }[] = [];
  let at = byName.get(node.inputs[0]!)!;
  while (!isWeighted(at)) {
    if (at.op === 'input') return { reason: 'it reads the model input: no BatchNorm statistics before it (use empirical bias correction)' };
    if (at.op === 'activation') activations.unshift({ act: at.activation, ...(at.alpha !== undefined ? { alpha: at.alpha } : {}), at: at.name });
    else if (!MEAN_KEEPING.has(at.op)) return { reason: `its input comes through ${at.name} (${at.op}), whose output statistics do not follow from a BatchNorm` };
    at = byName.get(at.inputs[0]!)!;
  }
  const gaussian = stats.get(at.name);
  if (!gaussian) return { reason: `the layer before it, ${at.name}, has no BatchNorm folded into it` };
  activations.unshift({ act: at.activation, at: at.name });
  const chain = activations.filter((a) => a.act !== 'linear');
  if (chain.length > 1) return { reason: `${chain.map((a) => a.act).join(' then ')} between ${at.name} and it` };
  const act = chain[0]?.act ?? 'linear';
  if (act !== 'linear' && act !== 'relu' && act !== 'relu6') return { reason: `${act} at ${chain[0]!.at}: the clipped-normal formula covers ReLU, ReLU6 and identity` };
  const channels = gaussian.mean.length;
  const mean = Float64Array.from({ length: channels }, (_, i) => expectedActivation(act, gaussian.mean[i]!, gaussian.std[i]!));
  const inputs = inputChannelsOf(node);
  if (inputs % channels !== 0) return { reason: `it reads ${inputs} inputs where ${at.name} gives ${channels} channels` };
  return { mean };
}

/** E[f(x)] for x ~ N(μ, σ²). */
export function expectedActivation(act: 'linear' | 'relu' | 'relu6', mu: number, sigma: number): number {
  if (act === 'linear') return mu;
  if (act === 'relu') return expectedRelu(mu, sigma);
  return expectedRelu(mu, sigma) - expectedRelu(mu - 6, sigma);
}

/** E[max(x, 0)] = μ·Φ(μ/σ) + σ·φ(μ/σ). */
export function expectedRelu(mu: number, sigma: number): number {
  if (sigma <= 0) return Math.max(mu, 0);
  const z = mu / sigma;
  return mu * normalCdf(z) + sigma * Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
}

export function normalCdf(z: number): number {
  return 0.5 * (1 + erf(z / Math.SQRT2));
}

/** erf by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7). */
function erf(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
  return sign * (1 - poly * Math.exp(-a * a));
}

/** Σ over the kernel of ΔW·E[x_in] per output channel (after a Flatten, Dense row r reads channel r mod channels). */
export function expectedShift(node: WeightedNode, delta: ArrayLike<number>, meanIn: Float64Array): number[] {
  const channels = outputChannels(node);
  const shape = node.weights.kernel.shape;
  const shift = new Float64Array(channels);
  for (let idx = 0; idx < delta.length; idx++) {
    const inRow = node.op === 'dense' ? Math.floor(idx / shape[1]!) : Math.floor(idx / shape[3]!) % shape[2]!;
    shift[idx % channels] = shift[idx % channels]! + delta[idx]! * meanIn[inRow % meanIn.length]!;
  }
  return Array.from(shift);
}
