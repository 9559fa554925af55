/**
 * Folds every foldable BatchNormalization into the Dense / Conv2D /
 * DepthwiseConv2D before it (conditions in bn-foldability.ts, arithmetic in
 * fold-scale.ts), so the quantized model has one integer op where the float
 * model had two and the BN needs no range of its own.
 *
 * A BN that cannot be folded (after an activation, a Concatenate, a pool, a
 * shared tensor…: DenseNet's pre-activation BNs) becomes an `affine` node of
 * the same name, y = x·s + t per channel with s = γ/√(σ² + ε), t = β − μ·s
 * in float32 as TF computes them (batchNormAffine): what TFLite's converter
 * writes for such a BN, a MUL and an ADD with its own output range. The plan
 * gives it that range (role affine), and every runtime and writer computes it
 * as it computes a Rescaling. The folded graph holds no BatchNormalization.
 *
 * BNs are visited in graph order on the graph folded so far, so a chain
 * Conv → BN → BN folds both into the Conv.
 */
import type { AffineNode, BatchNormNode, Graph, GraphNode, WeightedNode } from '../graph/types.js';
import { isWeighted, nodeByName } from '../graph/types.js';
import { bnFoldBlocker, type FoldBlocker } from './bn-foldability.js';
import { batchNormAffine, foldBias, foldScale, scaleKernel } from './fold-scale.js';

/** One BN folded into one layer. */
export interface FoldRecord {
  /** The removed BatchNormalization. */
  batchNorm: string;
  /** The layer that absorbed it (keeps its name). */
  layer: string;
  op: WeightedNode['op'];
  channels: number;
  /** The layer had no bias and got one (b' = β − μ·s). */
  biasAdded: boolean;
}

/** One BN that could not be folded, and why: the folded graph has it as an affine node of its name (see the module comment). */
export interface KeptBatchNorm {
  batchNorm: string;
  blocker: FoldBlocker;
}

export interface FoldResult {
  graph: Graph;
  folded: FoldRecord[];
  /** BNs that could not be folded, in graph order: affine nodes of the same name in `graph`. */
  kept: KeptBatchNorm[];
}

/**
 * The graph with every foldable BN folded and every other BN an affine node,
 * which BN went where, and which BNs could not be folded and why. The input
 * graph is not modified; nodes the fold does not touch are shared with it.
 */
export function foldBatchNorm(graph: Graph): FoldResult {
  let current = graph;
  const folded: FoldRecord[] = [];
  const kept: KeptBatchNorm[] = [];
  for (const node of graph.nodes) {
    if (node.op !== 'batchNorm') continue;
    const blocker = bnFoldBlocker(current, node.name);
    if (blocker) {
      kept.push({ batchNorm: node.name, blocker });
      continue;
    }
    const step = foldOne(current, node.name);
    current = step.graph;
    folded.push(step.record);
  }
  if (kept.length > 0) {
    // After every fold: a BN reading another BN folds into the conv first, or is kept reading the affine it becomes.
    // A BN whose statistics do not fit its channels (channel-mismatch) stays: the plan keeps it float.
    const affine = new Set(kept.filter((k) => k.blocker.reason !== 'channel-mismatch').map((k) => k.batchNorm));
    current = { ...current, nodes: current.nodes.map((n) => (n.op === 'batchNorm' && affine.has(n.name) ? batchNormAsAffine(n) : n)) };
  }
  return { graph: current, folded, kept };
}

/** The BN's inference map as an affine node of its name, inputs and shape (scale and offset per channel, float32 as TF computes them). */
export function batchNormAsAffine(norm: BatchNormNode): AffineNode {
  const w = norm.weights;
  const { scale, shift } = batchNormAffine({
    ...(w.gamma ? { gamma: w.gamma.values } : {}),
    ...(w.beta ? { beta: w.beta.values } : {}),
    mean: w.movingMean.values,
    variance: w.movingVariance.values,
    epsilon: norm.epsilon,
  });
  return { name: norm.name, op: 'affine', inputs: [...norm.inputs], outputShape: [...norm.outputShape], scale: Array.from(scale), offset: Array.from(shift), kerasClass: 'BatchNormalization' };
}

/** Folds the BN named `bn` (which must be foldable) into its producer. */
function foldOne(graph: Graph, bn: string): { graph: Graph; record: FoldRecord } {
  const norm = nodeByName(graph, bn) as BatchNormNode;
  const producer = nodeByName(graph, norm.inputs[0]!);
  if (!isWeighted(producer)) throw new Error(`BN ${bn} does not follow a Dense or convolution`);
  const merged = foldedLayer(producer, norm);
  const repoint = (names: string[]) => names.map((n) => (n === bn ? producer.name : n));
  const nodes: GraphNode[] = [];
  for (const node of graph.nodes) {
    if (node.name === bn) continue;
    if (node.name === producer.name) nodes.push(merged);
    else nodes.push(node.inputs.includes(bn) ? { ...node, inputs: repoint(node.inputs) } : node);
  }
  return {
    graph: { ...graph, nodes, output: graph.output === bn ? producer.name : graph.output },
    record: {
      batchNorm: bn,
      layer: producer.name,
      op: producer.op,
      channels: norm.weights.movingMean.values.length,
      biasAdded: !producer.weights.bias,
    },
  };
}

/** The layer with W' = W·s and b' = (b − μ)·s + β from the BN's moving statistics. */
function foldedLayer(layer: WeightedNode, norm: BatchNormNode): WeightedNode {
  const w = norm.weights;
  const affine = foldScale({
    ...(w.gamma ? { gamma: w.gamma.values } : {}),
    ...(w.beta ? { beta: w.beta.values } : {}),
    mean: w.movingMean.values,
    variance: w.movingVariance.values,
    epsilon: norm.epsilon,
  });
  return {
    ...layer,
    outputShape: [...norm.outputShape],
    weights: { kernel: scaleKernel(layer.weights.kernel, affine.scale), bias: foldBias(layer.weights.bias, affine) },
  };
}
