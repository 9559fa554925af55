/**
 * When a BatchNormalization can be folded into the layer before it, and why
 * not otherwise. Folding W' = W·s, b' = (b − μ)·s + β (see fold-scale.ts) is
 * exact only if the BN sees that layer's pre-activation output and nothing
 * else sees it:
 *  - the producer must be a Dense / Conv2D / DepthwiseConv2D (the ops that are
 *    linear per output channel);
 *  - with a linear activation: BN(relu(y)) ≠ relu(BN(y)) in general, which is
 *    why Conv2D → Activation → BatchNormalization cannot fold;
 *  - the BN must be the producer's only consumer and the producer must not be
 *    the model output: others would otherwise read the rescaled output.
 */
import type { Activation, Graph, GraphNode } from '../graph/types.js';
import { isWeighted, nodeByName } from '../graph/types.js';
import { consumersOf } from './graph-queries.js';

export type FoldBlockReason = 'after-activation' | 'shared-producer' | 'not-after-weighted-layer' | 'channel-mismatch';

export interface FoldBlocker {
  reason: FoldBlockReason;
  /** The node the BN reads. */
  producer: string;
  /** after-activation: the activation applied before the BN (as a layer or fused into the producer). */
  activation?: Activation;
  /**
   * after-activation with a standalone activation layer: the Dense/Conv feeding
   * that activation, i.e. where the BN should move.
   */
  weightedLayer?: string;
  /** shared-producer: the other readers of the producer's output (and `<output>` when it is the model output). */
  otherConsumers?: string[];
}

/** Why the BN named `bn` cannot be folded into its producer, or null when it can. */
export function bnFoldBlocker(graph: Graph, bn: string, consumers: Map<string, string[]> = consumersOf(graph)): FoldBlocker | null {
  const node = nodeByName(graph, bn);
  if (node.op !== 'batchNorm') throw new Error(`layer ${bn} is not a BatchNormalization`);
  const producer = nodeByName(graph, node.inputs[0]!);
  if (producer.op === 'activation') {
    const before = nodeByName(graph, producer.inputs[0]!);
    return {
      reason: 'after-activation',
      producer: producer.name,
      activation: producer.activation,
      ...(isWeighted(before) ? { weightedLayer: before.name } : {}),
    };
  }
  if (!isWeighted(producer)) return { reason: 'not-after-weighted-layer', producer: producer.name };
  if (producer.activation !== 'linear') {
    return { reason: 'after-activation', producer: producer.name, activation: producer.activation, weightedLayer: producer.name };
  }
  const others = (consumers.get(producer.name) ?? []).filter((c) => c !== bn);
  if (graph.output === producer.name) others.push('<output>');
  if (others.length > 0) return { reason: 'shared-producer', producer: producer.name, otherConsumers: others };
  if (channelsOf(producer) !== node.weights.movingMean.values.length) return { reason: 'channel-mismatch', producer: producer.name };
  return null;
}

/** Output channels of a node: the last axis of its output. */
function channelsOf(node: GraphNode): number {
  return node.outputShape[node.outputShape.length - 1]!;
}
