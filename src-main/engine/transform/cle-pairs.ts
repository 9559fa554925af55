/**
 * Which consecutive layer pairs cross-layer equalization (cle.ts) can scale,
 * and why the others cannot.
 *
 * A pair is a Dense / Conv2D / DepthwiseConv2D A whose output reaches another
 * such layer B through nodes f that commute with a positive per-channel
 * scale, f(x/s) = f(x)/s: ReLU, leaky ReLU, identity (linear, Dropout),
 * zero padding, cropping, nearest up-sampling, max and average pools (global
 * too) and Flatten (a channel of [h,w,c] becomes every c-th Dense input).
 * Then scaling A's output channel i by 1/s_i and B's input channel i by s_i
 * leaves the model's function unchanged.
 *
 * Refused, and listed: an activation that is not positively homogeneous
 * (sigmoid, tanh, swish, hard swish…), a kept BatchNorm (affine offset)
 * between them, an output read by another layer too, ReLU6 unless the run
 * asks to treat it as ReLU (its clip at a fixed 6 would move to 6/s_i: see
 * cle.ts), and a Flatten unless the run asks to cross it. Crossing one is
 * exact, but it matches one scale per conv channel against the largest of
 * that channel's h·w Dense rows, and on the bundled CNN at W4A8 per-tensor it
 * cost a point (88.62 % without the pair, 87.63 % with it, float 88.83 %;
 * on the accuracy bench's CNN 87.72 % against 84.99 %);
 * torch.ao's equalize and AIMET's CLE do not pair across a Flatten either.
 */
import type { Activation, Graph, GraphNode, WeightedNode } from '../graph/types.js';
import { isWeighted } from '../graph/types.js';
import { consumersOf } from './graph-queries.js';
import { outputChannels } from './kernel-axis.js';

export type Relu6Handling = 'skip' | 'as-relu';
export type FlattenHandling = 'skip' | 'cross';

export interface ClePair {
  first: string;
  second: string;
  /** Nodes between them, in order. */
  between: string[];
  /** ReLU6 activations (node names; A's own name when fused into A) that CLE turns into ReLU ('as-relu'). */
  relu6: string[];
  /** A Flatten lies between them: B's input row r belongs to A's channel r mod channels. */
  flattened: boolean;
}

export interface SkippedPair {
  first: string;
  second: string;
  reason: string;
}

/** Activations with f(x/s) = f(x)/s for every s > 0. */
const HOMOGENEOUS: ReadonlySet<Activation> = new Set(['linear', 'relu', 'leaky_relu']);

/** Ops that act on each channel alone and commute with a positive scale of it. */
const SCALE_COMMUTING: ReadonlySet<GraphNode['op']> = new Set(['dropout', 'zeroPad2d', 'crop2d', 'upSample2d', 'maxPool2d', 'avgPool2d', 'globalAvgPool2d', 'globalMaxPool2d', 'flatten', 'activation', 'affine']);

function activationBlocker(act: Activation, where: string, relu6: Relu6Handling): string | null {
  if (HOMOGENEOUS.has(act)) return null;
  if (act === 'relu6') {
    return relu6 === 'skip' ? `ReLU6 at ${where} clips at a fixed 6, which scaling would move to 6/s (run with ReLU6 treated as ReLU to equalize it)` : null;
  }
  return `${act} at ${where} is not positively homogeneous (${act}(x/s) ≠ ${act}(x)/s)`;
}

/** Every pair CLE may equalize, and every Dense/conv → Dense/conv chain it must leave alone with why, in graph order. */
export function findClePairs(graph: Graph, relu6: Relu6Handling, flatten: FlattenHandling): { pairs: ClePair[]; skipped: SkippedPair[] } {
  const consumers = consumersOf(graph);
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const pairs: ClePair[] = [];
  const skipped: SkippedPair[] = [];
  for (const first of graph.nodes) {
    if (!isWeighted(first)) continue;
    const reasons: string[] = [];
    const relu6Nodes: string[] = [];
    const noteActivation = (act: Activation, where: string) => {
      const blocker = activationBlocker(act, where, relu6);
      if (blocker) reasons.push(blocker);
      else if (act === 'relu6') relu6Nodes.push(where);
    };
    noteActivation(first.activation, first.name);
    const between: string[] = [];
    let flattened = false;
    let at: GraphNode = first;
    let second: WeightedNode | null = null;
    for (;;) {
      const readers: string[] = consumers.get(at.name) ?? [];
      if (readers.length !== 1 || graph.output === at.name) {
        // A fork (or the model output): no single next layer to pair with; name the one layer a fork still reaches.
        const weighted = readers.map((r) => byName.get(r)!).filter(isWeighted);
        if (readers.length > 1 && weighted.length > 0) {
          for (const w of weighted) skipped.push({ first: first.name, second: w.name, reason: `the output of ${at.name} is read by ${readers.length} layers (${readers.join(', ')})` });
        }
        break;
      }
      const next: GraphNode = byName.get(readers[0]!)!;
      if (isWeighted(next)) {
        second = next;
        break;
      }
      if (!SCALE_COMMUTING.has(next.op)) break;
      if (next.op === 'activation') noteActivation(next.activation, next.name);
      if (next.op === 'affine') reasons.push(`${next.name} (${next.kerasClass ?? 'affine'}) adds a per-channel offset between them`);
      if (next.op === 'flatten') {
        flattened = true;
        if (flatten === 'skip') reasons.push(`Flatten ${next.name} spreads each channel of ${first.name} over many Dense inputs: not equalized by default (run with CLE across Flatten to equalize it)`);
      }
      between.push(next.name);
      at = next;
    }
    if (!second) continue;
    const channels = outputChannels(first);
    const inputs = inputChannelsOf(second);
    if (flattened ? inputs % channels !== 0 : inputs !== channels) {
      reasons.push(`${second.name} reads ${inputs} input channels where ${first.name} gives ${channels}`);
    }
    if (reasons.length > 0) skipped.push({ first: first.name, second: second.name, reason: reasons.join('; ') });
    else pairs.push({ first: first.name, second: second.name, between, relu6: relu6Nodes, flattened });
  }
  return { pairs, skipped };
}

/** The input channel count a layer's kernel reads (Dense: its input rows). */
export function inputChannelsOf(node: WeightedNode): number {
  const shape = node.weights.kernel.shape;
  return node.op === 'dense' ? shape[0]! : shape[2]!;
}
