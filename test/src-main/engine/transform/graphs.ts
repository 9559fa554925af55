/**
 * Hand-built IR graphs and references for the transform tests (no test cases
 * here). Weights are seeded; shapes assume stride 1 and 'same' padding.
 */
import type { BatchNormNode, Graph, GraphNode, LayerActivation as Activation, WeightData } from '../../../../src-main/engine/graph/types.js';
import { RunConfig, type RunConfigInput } from '../../../../src-main/api/run-config.js';
import { rng } from '../graph/fixtures.js';

/** A parsed RunConfig with the defaults (per-channel symmetric weights, per-tensor activations) plus `extra`. */
export function config(extra: Partial<RunConfigInput> = {}): RunConfig {
  return RunConfig.parse({ modelId: 1, datasetId: 1, ...extra });
}

/** Seeded uniform values in [lo, hi). */
export function weight(shape: number[], seed: number, lo = -1, hi = 1): WeightData {
  const next = rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return { shape: [...shape], values: Float32Array.from({ length: size }, () => lo + (hi - lo) * next()) };
}

let seedCounter = 100;
const nextSeed = () => seedCounter++;

export const input = (name: string, shape: number[]): GraphNode => ({ name, op: 'input', inputs: [], outputShape: shape });

export function conv(name: string, from: GraphNode, filters: number, opts: { k?: number; activation?: Activation; bias?: boolean } = {}): GraphNode {
  const k = opts.k ?? 3;
  const [h, w, c] = from.outputShape as [number, number, number];
  return {
    name,
    op: 'conv2d',
    inputs: [from.name],
    outputShape: [h, w, filters],
    filters,
    kernelSize: [k, k],
    strides: [1, 1],
    padding: 'same',
    dilation: [1, 1],
    activation: opts.activation ?? 'linear',
    weights: { kernel: weight([k, k, c, filters], nextSeed()), ...(opts.bias === false ? {} : { bias: weight([filters], nextSeed()) }) },
  };
}

export function depthwise(name: string, from: GraphNode, mult: number, opts: { activation?: Activation; bias?: boolean } = {}): GraphNode {
  const [h, w, c] = from.outputShape as [number, number, number];
  return {
    name,
    op: 'depthwiseConv2d',
    inputs: [from.name],
    outputShape: [h, w, c * mult],
    kernelSize: [3, 3],
    strides: [1, 1],
    padding: 'same',
    dilation: [1, 1],
    depthMultiplier: mult,
    activation: opts.activation ?? 'linear',
    weights: { kernel: weight([3, 3, c, mult], nextSeed()), ...(opts.bias === false ? {} : { bias: weight([c * mult], nextSeed()) }) },
  };
}

export function dense(name: string, from: GraphNode, units: number, opts: { activation?: Activation; bias?: boolean } = {}): GraphNode {
  const inF = from.outputShape[from.outputShape.length - 1]!;
  return {
    name,
    op: 'dense',
    inputs: [from.name],
    outputShape: [...from.outputShape.slice(0, -1), units],
    units,
    activation: opts.activation ?? 'linear',
    weights: { kernel: weight([inF, units], nextSeed()), ...(opts.bias === false ? {} : { bias: weight([units], nextSeed()) }) },
  };
}

/** A BN with non-trivial statistics: |γ| in [0.5, 2] with either sign, β and μ in [-1, 1], σ² in [0.1, 3]. */
export function batchNorm(name: string, from: GraphNode, seed = nextSeed()): BatchNormNode {
  const c = from.outputShape[from.outputShape.length - 1]!;
  const next = rng(seed);
  const gamma = Float32Array.from({ length: c }, () => (next() < 0.5 ? -1 : 1) * (0.5 + 1.5 * next()));
  return {
    name,
    op: 'batchNorm',
    inputs: [from.name],
    outputShape: [...from.outputShape],
    epsilon: 1e-3,
    momentum: 0.99,
    weights: {
      gamma: { shape: [c], values: gamma },
      beta: weight([c], seed + 1),
      movingMean: weight([c], seed + 2),
      movingVariance: weight([c], seed + 3, 0.1, 3),
    },
  };
}

export const act = (name: string, from: GraphNode, activation: Activation): GraphNode => ({ name, op: 'activation', inputs: [from.name], outputShape: [...from.outputShape], activation });
export const maxPool = (name: string, from: GraphNode): GraphNode => {
  const [h, w, c] = from.outputShape as [number, number, number];
  return { name, op: 'maxPool2d', inputs: [from.name], outputShape: [Math.floor(h / 2), Math.floor(w / 2), c], poolSize: [2, 2], strides: [2, 2], padding: 'valid' };
};
export const gap = (name: string, from: GraphNode): GraphNode => ({ name, op: 'globalAvgPool2d', inputs: [from.name], outputShape: [from.outputShape[2]!] });
export const flatten = (name: string, from: GraphNode): GraphNode => ({ name, op: 'flatten', inputs: [from.name], outputShape: [from.outputShape.reduce((a, b) => a * b, 1)] });
export const add = (name: string, ...from: GraphNode[]): GraphNode => ({ name, op: 'add', inputs: from.map((n) => n.name), outputShape: [...from[0]!.outputShape] });
export const concat = (name: string, ...from: GraphNode[]): GraphNode => {
  const shape = [...from[0]!.outputShape];
  shape[shape.length - 1] = from.reduce((s, n) => s + n.outputShape[n.outputShape.length - 1]!, 0);
  return { name, op: 'concat', inputs: from.map((n) => n.name), outputShape: shape, axis: -1 };
};

/** A graph of the given nodes (topological order, input first); output = the last node. */
export function graphOf(name: string, ...nodes: GraphNode[]): Graph {
  return { name, nodes, output: nodes[nodes.length - 1]!.name };
}

/** Gives every BN non-trivial statistics and every bias random values (fresh Keras models have identity BNs and zero biases). */
export function randomizeStatistics(graph: Graph, seed: number): Graph {
  let s = seed;
  const nodes = graph.nodes.map((node): GraphNode => {
    if (node.op === 'batchNorm') return { ...node, weights: batchNorm(node.name, node, (s += 10)).weights };
    if ((node.op === 'dense' || node.op === 'conv2d' || node.op === 'depthwiseConv2d') && node.weights.bias) {
      return { ...node, weights: { ...node.weights, bias: weight(node.weights.bias.shape, (s += 10), -0.5, 0.5) } };
    }
    return node;
  });
  return { ...graph, nodes };
}

/** max |a − b| / max |b|: the error relative to the reference's scale. */
export function relativeError(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (got.length !== ref.length) throw new Error(`sizes differ: ${got.length} vs ${ref.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(got[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return diff / scale;
}

// ---- Slow float64 references: the unfolded layer, then Keras's BN formula ----

/** Conv2D or DepthwiseConv2D with stride 1, 'same' padding, odd square kernel, in float64; x is NHWC. */
export function referenceConv(node: GraphNode, x: ArrayLike<number>, [n, h, w, c]: number[]): Float64Array {
  if (node.op !== 'conv2d' && node.op !== 'depthwiseConv2d') throw new Error('not a convolution');
  const k = node.weights.kernel;
  const [kh, kw] = k.shape as [number, number];
  const out = node.outputShape[2]!;
  const mult = node.op === 'depthwiseConv2d' ? node.depthMultiplier : 0;
  const ph = (kh - 1) / 2;
  const pw = (kw - 1) / 2;
  const y = new Float64Array(n! * h! * w! * out);
  for (let b = 0; b < n!; b++)
    for (let i = 0; i < h!; i++)
      for (let j = 0; j < w!; j++)
        for (let o = 0; o < out; o++) {
          let sum = node.weights.bias ? node.weights.bias.values[o]! : 0;
          for (let di = 0; di < kh; di++)
            for (let dj = 0; dj < kw; dj++) {
              const ii = i + di - ph;
              const jj = j + dj - pw;
              if (ii < 0 || jj < 0 || ii >= h! || jj >= w!) continue;
              const base = ((b * h! + ii) * w! + jj) * c!;
              if (mult === 0) {
                for (let ci = 0; ci < c!; ci++) sum += x[base + ci]! * k.values[((di * kw + dj) * c! + ci) * out + o]!;
              } else {
                // Output channel o = ci·mult + m reads input channel ci through kernel[di, dj, ci, m].
                const ci = Math.floor(o / mult);
                const m = o % mult;
                sum += x[base + ci]! * k.values[((di * kw + dj) * c! + ci) * mult + m]!;
              }
            }
          y[((b * h! + i) * w! + j) * out + o] = sum;
        }
  return y;
}

/** Dense in float64: x [n, in] · kernel [in, out] + bias. */
export function referenceDense(node: GraphNode, x: ArrayLike<number>, n: number): Float64Array {
  if (node.op !== 'dense') throw new Error('not a Dense');
  const [inF, out] = node.weights.kernel.shape as [number, number];
  const y = new Float64Array(n * out);
  for (let b = 0; b < n; b++)
    for (let o = 0; o < out; o++) {
      let sum = node.weights.bias ? node.weights.bias.values[o]! : 0;
      for (let i = 0; i < inF; i++) sum += x[b * inF + i]! * node.weights.kernel.values[i * out + o]!;
      y[b * out + o] = sum;
    }
  return y;
}

/** Keras inference BN on the last axis: y = γ·(x − μ)/√(σ² + ε) + β, in float64. */
export function referenceBatchNorm(node: BatchNormNode, x: Float64Array): Float64Array {
  const w = node.weights;
  const c = w.movingMean.values.length;
  return x.map((v, i) => {
    const k = i % c;
    return (w.gamma?.values[k] ?? 1) * (v - w.movingMean.values[k]!) / Math.sqrt(w.movingVariance.values[k]! + node.epsilon) + (w.beta?.values[k] ?? 0);
  });
}
