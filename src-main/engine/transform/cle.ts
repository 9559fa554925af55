/**
 * Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization
 * Through Weight Equalization and Bias Correction", §4.1), on the graph after
 * BatchNorm folding.
 *
 * For a pair A → f → B (cle-pairs.ts: f commutes with positive per-channel
 * scales) with r1_i the range max|W_A| of A's output channel i and r2_i the
 * range max|W_B| of B's input channel i,
 *   s_i = √(r1_i · r2_i) / r2_i,   W_A[…, i] /= s_i,  b_A[i] /= s_i,  W_B[…, i, …] *= s_i,
 * which leaves the function unchanged and both ranges equal to √(r1_i·r2_i),
 * so per-tensor quantization of both loses the least precision (the paper's
 * optimum). In a chain A → B → C scaling B for one pair changes its ranges
 * for the other, so all pairs are swept again until every s_i is within
 * `tolerance` of 1. A channel with a zero range keeps s_i = 1.
 *
 * ReLU6: relu6(x/s) = min(relu(x)/s, 6) ≠ relu6(x)/s, so a ReLU6 between a
 * pair blocks it by default. With relu6 'as-relu' the pair is equalized as
 * DFQ's experiments and AIMET do, after replacing the ReLU6 by ReLU: that
 * changes the float model (listed in `relu6Replaced`), and the run's float
 * reference is then that model.
 */
import type { ActivationNode, Graph, GraphNode, WeightData, WeightedNode } from '../graph/types.js';
import { findClePairs, type ClePair, type FlattenHandling, type Relu6Handling, type SkippedPair } from './cle-pairs.js';
import { outputChannels } from './kernel-axis.js';

export interface CleOptions {
  relu6?: Relu6Handling;
  /** Default 'skip' (see cle-pairs.ts). */
  flatten?: FlattenHandling;
  /** Stop when every scale of a sweep is within this of 1. Default 1e-6. */
  tolerance?: number;
  /** Default 100. */
  maxSweeps?: number;
}

/** One equalized pair, for the run summary. */
export interface EqualizedPair {
  first: string;
  second: string;
  /** The product of all sweeps' s_i: smallest and largest over the channels. */
  scaleMin: number;
  scaleMax: number;
  /** max_i r1_i/r2_i before and after (1 when equalized). */
  ratioBefore: { min: number; max: number };
  ratioAfter: { min: number; max: number };
}

export interface CleResult {
  graph: Graph;
  /** The pairs equalized, with what lies between them (high-bias absorption reads it). */
  pairs: ClePair[];
  equalized: EqualizedPair[];
  skipped: SkippedPair[];
  /** ReLU6 activations turned into ReLU (relu6 'as-relu'). */
  relu6Replaced: string[];
  sweeps: number;
  converged: boolean;
  /** The total scale s_i per channel by which each equalized first layer's output was divided. */
  outputScales: Map<string, Float64Array>;
}

/** The graph with every equalizable pair equalized; the input graph is not modified. */
export function equalizeLayers(graph: Graph, opts: CleOptions = {}): CleResult {
  const relu6 = opts.relu6 ?? 'skip';
  const tolerance = opts.tolerance ?? 1e-6;
  const maxSweeps = opts.maxSweeps ?? 100;
  const { pairs, skipped } = findClePairs(graph, relu6, opts.flatten ?? 'skip');
  const relu6Replaced = pairs.flatMap((p) => p.relu6);
  // Working copies of the weights the pairs touch, in float64: the sweeps' scales compound, and each weight
  // is rounded to float32 once at the end rather than once a sweep.
  const nodes = new Map<string, Working>();
  for (const p of pairs) {
    for (const name of [p.first, p.second]) {
      if (nodes.has(name)) continue;
      const node = graph.nodes.find((n) => n.name === name) as WeightedNode;
      nodes.set(name, { node, kernel: Float64Array.from(node.weights.kernel.values), ...(node.weights.bias ? { bias: Float64Array.from(node.weights.bias.values) } : {}) });
    }
  }
  const ranges = (p: { first: string; second: string }) => workingRanges(nodes.get(p.first)!, nodes.get(p.second)!);
  const total = new Map(pairs.map((p) => [p.first, new Float64Array(outputChannels(nodes.get(p.first)!.node)).fill(1)]));
  const ratioBefore = pairs.map((p) => ratioSpan(ranges(p)));
  let sweeps = 0;
  let converged = pairs.length === 0;
  while (!converged && sweeps < maxSweeps) {
    sweeps++;
    let worst = 0;
    for (const p of pairs) {
      const { r1, r2 } = ranges(p);
      const s = new Float64Array(r1.length);
      for (let i = 0; i < s.length; i++) {
        s[i] = r1[i]! > 0 && r2[i]! > 0 ? Math.sqrt(r1[i]! * r2[i]!) / r2[i]! : 1;
        worst = Math.max(worst, Math.abs(s[i]! - 1));
      }
      scaleOutputs(nodes.get(p.first)!, s);
      scaleInputs(nodes.get(p.second)!, s);
      const t = total.get(p.first)!;
      for (let i = 0; i < s.length; i++) t[i] = t[i]! * s[i]!;
    }
    converged = worst <= tolerance;
  }
  const equalized = pairs.map((p, k): EqualizedPair => {
    const t = total.get(p.first)!;
    return { first: p.first, second: p.second, scaleMin: Math.min(...t), scaleMax: Math.max(...t), ratioBefore: ratioBefore[k]!, ratioAfter: ratioSpan(ranges(p)) };
  });
  const replaced = new Set(relu6Replaced);
  const out: GraphNode[] = graph.nodes.map((n) => {
    const w = nodes.get(n.name);
    const node: GraphNode = w ? toFloat32(w) : n;
    if (!replaced.has(n.name)) return node;
    return node.op === 'activation' ? ({ ...(node as ActivationNode), activation: 'relu' } as ActivationNode) : ({ ...(node as WeightedNode), activation: 'relu' } as WeightedNode);
  });
  return { graph: { ...graph, nodes: out }, pairs, equalized, skipped, relu6Replaced, sweeps, converged, outputScales: total };
}

/** A layer being equalized: its kernel and bias in float64. */
interface Working {
  node: WeightedNode;
  kernel: Float64Array;
  bias?: Float64Array;
}

/** r1_i = max|W_A| of A's output channel i and r2_i = max|W_B| of B's input channels belonging to channel i. */
export function pairRanges(a: WeightedNode, b: WeightedNode): { r1: Float64Array; r2: Float64Array } {
  return workingRanges({ node: a, kernel: Float64Array.from(a.weights.kernel.values) }, { node: b, kernel: Float64Array.from(b.weights.kernel.values) });
}

function workingRanges(a: Working, b: Working): { r1: Float64Array; r2: Float64Array } {
  const channels = outputChannels(a.node);
  const r1 = new Float64Array(channels);
  for (let idx = 0; idx < a.kernel.length; idx++) {
    const c = idx % channels;
    r1[c] = Math.max(r1[c]!, Math.abs(a.kernel[idx]!));
  }
  const r2 = new Float64Array(channels);
  const inOf = inputChannelIndex(b.node);
  for (let idx = 0; idx < b.kernel.length; idx++) {
    const c = inOf(idx) % channels;
    r2[c] = Math.max(r2[c]!, Math.abs(b.kernel[idx]!));
  }
  return { r1, r2 };
}

/** The input channel (Dense: input row) of each kernel element, in the kernel's row-major order. */
function inputChannelIndex(node: WeightedNode): (idx: number) => number {
  const shape = node.weights.kernel.shape;
  if (node.op === 'dense') return (idx) => Math.floor(idx / shape[1]!);
  // Conv2D [kh,kw,in,out], DepthwiseConv2D [kh,kw,in,mult]: the input axis is third.
  const inner = shape[3]!;
  const inputs = shape[2]!;
  return (idx) => Math.floor(idx / inner) % inputs;
}

/** W_A[…, i] /= s_i and b_A[i] /= s_i (A's output channel is the kernel's innermost index, kernel-axis.ts). */
function scaleOutputs(w: Working, s: Float64Array): void {
  for (let idx = 0; idx < w.kernel.length; idx++) w.kernel[idx] = w.kernel[idx]! / s[idx % s.length]!;
  if (w.bias) for (let i = 0; i < w.bias.length; i++) w.bias[i] = w.bias[i]! / s[i]!;
}

/** W_B[…, i, …] *= s_i over B's input channel i (after a Flatten: every input row r with r mod channels = i). */
function scaleInputs(w: Working, s: Float64Array): void {
  const inOf = inputChannelIndex(w.node);
  for (let idx = 0; idx < w.kernel.length; idx++) w.kernel[idx] = w.kernel[idx]! * s[inOf(idx) % s.length]!;
}

function ratioSpan({ r1, r2 }: { r1: Float64Array; r2: Float64Array }): { min: number; max: number } {
  let min = Infinity;
  let max = 0;
  for (let i = 0; i < r1.length; i++) {
    if (!(r1[i]! > 0 && r2[i]! > 0)) continue;
    const r = r1[i]! / r2[i]!;
    min = Math.min(min, r);
    max = Math.max(max, r);
  }
  return min === Infinity ? { min: 1, max: 1 } : { min, max };
}

function toFloat32(w: Working): WeightedNode {
  const f32 = (values: Float64Array, shape: number[]): WeightData => ({ shape: [...shape], values: Float32Array.from(values) });
  const { node } = w;
  return { ...node, weights: { kernel: f32(w.kernel, node.weights.kernel.shape), ...(w.bias ? { bias: f32(w.bias, node.weights.bias!.shape) } : {}) } } as WeightedNode;
}
