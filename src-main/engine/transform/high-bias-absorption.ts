/**
 * High-bias absorption (Nagel et al. 2019, §4.1.1), after cross-layer
 * equalization: a channel of A whose pre-activation is N(β, γ²) is almost
 * always above c = max(0, β − 3γ), and then relu(x) − c = relu(x − c). So c
 * moves out of A's bias into B's,
 *   b_A −= c,   b_B += Σ W_B·c   (over B's kernel taps reading that channel),
 * which shrinks the range B's input must cover. Exact where x ≥ c (all but
 * about 0.13% of a Gaussian channel's values); not where zeros padded into
 * B's input would turn into −c, so a pair with zero padding (a ZeroPadding2D,
 * or B a 'same' convolution wider than 1×1) is left alone, and so is a pair
 * whose activation is not ReLU (ReLU6 only as ReLU after CLE's 'as-relu').
 */
import type { Graph, GraphNode, WeightData, WeightedNode } from '../graph/types.js';
import { isWeighted } from '../graph/types.js';
import type { ClePair, SkippedPair } from './cle-pairs.js';
import { expectedShift, type ChannelGaussian } from './bias-correction.js';

export interface AbsorbedPair {
  first: string;
  second: string;
  /** Channels with c > 0 (0: nothing moved), and the largest c. */
  channels: number;
  maxAbsorbed: number;
}

/** Ops between A and B through which a constant per-channel offset passes unchanged (x − c in, y − c out). */
const OFFSET_COMMUTING: ReadonlySet<GraphNode['op']> = new Set(['dropout', 'crop2d', 'upSample2d', 'maxPool2d', 'avgPool2d', 'globalAvgPool2d', 'globalMaxPool2d', 'flatten', 'activation']);

/**
 * The graph with each equalized pair's high biases absorbed; `stats` (A's
 * pre-activation statistics, already divided by CLE's scales) get their means
 * lowered by c for the analytic bias correction after it.
 */
export function absorbHighBiases(graph: Graph, pairs: readonly ClePair[], stats: Map<string, ChannelGaussian>): { graph: Graph; absorbed: AbsorbedPair[]; skipped: SkippedPair[] } {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const replaced = new Map<string, WeightedNode>();
  const absorbed: AbsorbedPair[] = [];
  const skipped: SkippedPair[] = [];
  const current = (name: string) => replaced.get(name) ?? (byName.get(name) as WeightedNode);
  for (const p of pairs) {
    const a = current(p.first);
    const b = current(p.second);
    const reason = blocker(a, b, p.between.map((n) => byName.get(n)!), stats.get(a.name));
    if (reason) {
      skipped.push({ first: a.name, second: b.name, reason });
      continue;
    }
    const g = stats.get(a.name)!;
    const c = Float64Array.from(g.mean, (mu, i) => Math.max(0, mu - 3 * g.std[i]!));
    const channels = c.filter((v) => v > 0).length;
    // Recorded even when no channel has c > 0, so the summary says the pair was looked at.
    absorbed.push({ first: a.name, second: b.name, channels, maxAbsorbed: Math.max(...c) });
    if (channels === 0) continue;
    const biasA = a.weights.bias!.values;
    const newA: WeightData = { shape: [biasA.length], values: Float32Array.from(biasA, (v, i) => v - c[i]!) };
    const add = expectedShift(b, b.weights.kernel.values, c);
    const biasB = b.weights.bias?.values;
    const newB: WeightData = { shape: [add.length], values: Float32Array.from(add, (v, o) => (biasB?.[o] ?? 0) + v) };
    replaced.set(a.name, { ...a, weights: { ...a.weights, bias: newA } } as WeightedNode);
    replaced.set(b.name, { ...b, weights: { ...b.weights, bias: newB } } as WeightedNode);
    stats.set(a.name, { mean: Float64Array.from(g.mean, (mu, i) => mu - c[i]!), std: g.std });
  }
  return { graph: { ...graph, nodes: graph.nodes.map((n) => replaced.get(n.name) ?? n) }, absorbed, skipped };
}

function blocker(a: WeightedNode, b: WeightedNode, between: GraphNode[], stats: ChannelGaussian | undefined): string | null {
  if (!stats || !a.weights.bias) return `${a.name} has no BatchNorm folded into it: no statistics to choose c from`;
  const activations = [a.activation, ...between.flatMap((n) => (n.op === 'activation' ? [n.activation] : []))].filter((x) => x !== 'linear');
  if (activations.length !== 1 || activations[0] !== 'relu') return `absorption needs one ReLU between them (found ${activations.join(', ') || 'none'})`;
  const pad = between.find((n) => !OFFSET_COMMUTING.has(n.op));
  if (pad) return `${pad.name} (${pad.op}) pads or changes the offset between them`;
  if (isWeighted(b) && b.op !== 'dense' && b.padding === 'same' && (b.kernelSize[0] > 1 || b.kernelSize[1] > 1)) {
    return `${b.name} pads its input with zeros ('same', ${b.kernelSize.join('×')}), which absorption would turn into −c`;
  }
  return null;
}
