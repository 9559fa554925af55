/**
 * The quantization plan: WHAT gets quantized, decided per layer kind the way
 * tfmot's QuantizeConfig registry does, kept apart from HOW (observers, range
 * estimators and fake-quant specs live in engine/quant). The plan is plain
 * JSON-serialisable data, so it can be stored with a run and shown.
 *
 * Plan the graph after foldBatchNorm, which folds every BatchNormalization it
 * can into the layer before it and turns the others into affine nodes
 * (x·s + t per channel: TFLite's MUL + ADD); a BatchNormalization still
 * present (a graph planned unfolded) stays float, its tensor without a range.
 *
 * Where the integer model has a tensor, it gets an activation quantizer:
 *  - the model input, or, when the input goes straight into preprocessing
 *    (Rescaling / Normalization: affine nodes, each the only reader of the
 *    one before; not a BatchNormalization made affine, which is part of the
 *    network and gets its own range), the output of that preprocessing: the integer model takes
 *    the rescaled tensor, as a TFLite model converted with its preprocessing
 *    outside does, so the quantizer named `input` sits after the last affine;
 *  - each weighted layer's output, after a following ReLU/ReLU6/linear
 *    Activation that is its only consumer: TFLite fuses that activation into
 *    the Conv/FullyConnected op (fused_activation_function), so the
 *    pre-activation tensor never exists in integer form and gets no quantizer;
 *  - Add and Multiply outputs (with the same ReLU fusion: TFLite's ADD and MUL
 *    fuse it too, as tfmot's Add+ReLU transform does), Concatenate outputs;
 *  - a standalone Activation that is not fused (softmax, sigmoid, tanh, swish,
 *    hard sigmoid / swish, leaky ReLU: TFLite's LOGISTIC, HARD_SWISH,
 *    LEAKY_RELU… have their own output scale; or a ReLU after a Concatenate,
 *    a pool or a shared tensor);
 *  - an affine (Rescaling / Normalization, or a BatchNormalization the fold
 *    could not put into a layer: TFLite's MUL + ADD with its own output
 *    range) anywhere but in the input's preprocessing.
 * Pass-through ops (PASS_THROUGH_OPS) get none and hand on their input's range.
 * A BatchNormalization node (only in a graph planned without foldBatchNorm) stays float (no range).
 *
 * Weights: one quantizer per Dense/Conv2D/DepthwiseConv2D kernel. Biases are
 * not planned: the integer formats store them as int32 with the derived scale
 * s_bias = s_input·s_weight, which is why each weight quantizer names the
 * activation quantizer giving its input's scale.
 */
import type { LayerOverride, QuantSpec, RunConfig } from '../../api/run-config.js';
import type { Activation, Graph, GraphNode, OpKind, WeightedNode } from '../graph/types.js';
import { isWeighted, nodeByName } from '../graph/types.js';
import { consumersOf, shapeText } from './graph-queries.js';
import { outputChannels, resolveKernelAxis } from './kernel-axis.js';
import { overridesByLayer, withBits } from './overrides.js';

/** A layer of the model the studio cannot quantize: an opaque 'layer' node of the graph, or one a caller reports. */
export interface UnsupportedLayer {
  name: string;
  className: string;
  /** Why, when the class is one the IR models but an option is not (e.g. activation "elu"). */
  reason?: string;
}

export interface PlanOptions {
  /**
   * More layers the studio cannot quantize, besides the graph's opaque 'layer'
   * nodes (always included); kept float when config.unsupported is 'keep-float'.
   */
  unsupportedLayers?: UnsupportedLayer[];
}

/** The graph's opaque 'layer' nodes in graph order, then any `extra` ones not already named. */
export function unsupportedLayersOf(graph: Graph, extra: readonly UnsupportedLayer[] = []): UnsupportedLayer[] {
  const out: UnsupportedLayer[] = graph.nodes.flatMap((n) =>
    n.op === 'layer' ? [{ name: n.name, className: n.className, ...(n.reason ? { reason: n.reason } : {}) }] : [],
  );
  const named = new Set(out.map((u) => u.name));
  for (const u of extra) if (!named.has(u.name)) out.push(u);
  return out;
}

export interface WeightQuantizer {
  /** `<layer>/kernel`. */
  name: string;
  layer: string;
  op: WeightedNode['op'];
  /** config.weights with the layer's weightBits override; axis set to the resolved axis when per-channel. */
  spec: QuantSpec;
  kernelShape: number[];
  /** The shape the axis refers to: the kernel shape, or [kh,kw,in·mult] for a depthwise kernel. */
  view: number[];
  /** Per-channel axis on `view`; null for per-tensor. */
  axis: number | null;
  /** Number of scales: view[axis] per-channel, 1 per-tensor. */
  channels: number;
  /** Activation quantizer giving the layer input's scale (bias scale = s_input·s_weight); null when the input has no range. */
  input: string | null;
}

/**
 * input: the model input (after its preprocessing affines, if any); layer: a
 * weighted layer (+ fused activation); add / mul / concat: their outputs;
 * activation: a standalone activation; affine: a Rescaling / Normalization
 * that is not the input's preprocessing.
 */
export type ActivationRole = 'input' | 'layer' | 'add' | 'mul' | 'concat' | 'activation' | 'affine';

export interface ActivationQuantizer {
  /** `input`, or `<first layer>/output`, e.g. `conv2d_1/output`. */
  name: string;
  role: ActivationRole;
  /** The node whose output it quantizes (the fused activation, or the input's last preprocessing affine, when there is one): the runtime's output-hook point. */
  at: string;
  /** The nodes forming the one integer op it closes, head first, e.g. ['conv2d', 'activation'] (role input: the input, then its preprocessing affines). */
  layers: string[];
  /** config.activations with the activationBits override of any of `layers` (the last one wins). */
  spec: QuantSpec;
  /**
   * The quantizer whose range this one must use, or null. Set for the inputs
   * of a Concatenate (named after the first Concatenate of the group): TFLite's
   * int8 CONCATENATION requires every input to have the output's scale and zero
   * point. Add needs no sharing: its integer kernel rescales each input.
   */
  sharedWith: string | null;
  /**
   * A grid the run's target fixes for this output (engine/targets: TFLite's
   * SOFTMAX / LOGISTIC / TANH grids…), used instead of the calibrated range.
   */
  fixed?: { min: number; max: number; why: string };
}

/** override: config.overrides float; unsupported: config.unsupported 'keep-float'; batchnorm-not-folded: a BatchNormalization node in the planned graph (foldBatchNorm leaves none, but one whose statistics do not fit its channels). */
export type FloatReason = 'override' | 'unsupported' | 'batchnorm-not-folded';

export interface FloatLayer {
  layer: string;
  reason: FloatReason;
  /** Class name, for unsupported layers (which the graph may not hold). */
  className?: string;
  /** When float only because it is fused with this layer, which carries the reason (one integer op is all-float or all-int). */
  fusedWith?: string;
}

/**
 * quantized: has its own quantizer; passed-through: reuses its input's range
 * (null when the input has none); fused: internal to a fused op (or the raw
 * input before its preprocessing), never materialised; float: computed in
 * float, no range.
 */
export type TensorHow = 'quantized' | 'passed-through' | 'fused' | 'float';

export interface TensorRange {
  /** Node name; each node has one output tensor. */
  tensor: string;
  /** Name of the activation quantizer whose range this tensor carries, or null. */
  range: string | null;
  how: TensorHow;
  /** passed-through: the tensor whose range it reuses. */
  from?: string;
}

export interface QuantPlan {
  graph: string;
  weights: WeightQuantizer[];
  activations: ActivationQuantizer[];
  float: FloatLayer[];
  /** Every node's output tensor, in graph order. */
  tensors: TensorRange[];
}

/** The activation quantizer whose range a node's output tensor carries (its own, or the one it passes through), if any. */
export function rangeQuantizerOf(plan: QuantPlan, tensor: string): ActivationQuantizer | undefined {
  const range = plan.tensors.find((t) => t.tensor === tensor)?.range;
  return range ? plan.activations.find((a) => a.name === range) : undefined;
}

/**
 * Ops whose output stays on their input's quantization grid, so they take no
 * quantizer of their own: max-pools pick input values, flatten, reshape,
 * cropping and nearest up-sampling move them, dropout is the identity at
 * inference; an average of values in [min, max] stays in [min, max], and
 * TFLite's int8 AVERAGE_POOL_2D keeps the input's scale and zero point (a
 * rescaling MEAN for the global pool could only tighten that range). Zero
 * padding adds real zeros, which the nudged range always represents exactly
 * (TFLite's PAD keeps the input's scale and zero point).
 */
export const PASS_THROUGH_OPS: ReadonlySet<OpKind> = new Set<OpKind>([
  'maxPool2d',
  'avgPool2d',
  'globalAvgPool2d',
  'globalMaxPool2d',
  'flatten',
  'reshape',
  'dropout',
  'zeroPad2d',
  'crop2d',
  'upSample2d',
]);

/** Activations TFLite fuses into Conv / FullyConnected / Add / Mul (fused_activation_function NONE, RELU, RELU6). */
export const FUSIBLE_ACTIVATIONS: ReadonlySet<Activation> = new Set<Activation>(['linear', 'relu', 'relu6']);

type OpGroupKind = 'input' | 'weighted' | 'add' | 'mul' | 'concat' | 'activation' | 'affine' | 'batchNorm' | 'pass' | 'layer';

/** One op of the integer model: a node, a weighted layer / Add / Multiply with its fused activation, or the input with its preprocessing. */
export interface OpGroup {
  kind: OpGroupKind;
  /** Head first; a fused activation is the second and last; the input's preprocessing affines follow it in order. */
  layers: string[];
}

/** The graph's nodes grouped into integer ops, in graph order of their heads. */
export function groupOps(graph: Graph, consumers: Map<string, string[]> = consumersOf(graph)): OpGroup[] {
  const fused = new Set<string>();
  const groups: OpGroup[] = [];
  for (const node of graph.nodes) {
    if (fused.has(node.name)) continue;
    const kind = groupKind(node);
    const layers = [node.name];
    if (kind === 'weighted' || kind === 'add' || kind === 'mul') {
      const act = fusibleActivation(graph, consumers, node);
      if (act) {
        layers.push(act);
        fused.add(act);
      }
    }
    if (kind === 'input') {
      for (const affine of preprocessingOf(graph, consumers, node)) {
        layers.push(affine);
        fused.add(affine);
      }
    }
    groups.push({ kind, layers });
  }
  return groups;
}

function groupKind(node: GraphNode): OpGroupKind {
  if (PASS_THROUGH_OPS.has(node.op)) return 'pass';
  if (isWeighted(node)) return 'weighted';
  if (node.op === 'multiply') return 'mul';
  if (node.op === 'input' || node.op === 'add' || node.op === 'concat' || node.op === 'activation' || node.op === 'affine' || node.op === 'batchNorm' || node.op === 'layer') return node.op;
  throw new Error(`layer ${node.name}: no quantization rule for op ${node.op}`);
}

/**
 * The affine chain right after the input (Rescaling, Normalization…), each
 * the only reader of the tensor before it: the model's preprocessing, which
 * the input quantizer follows. A BatchNormalization made affine ends it: it is
 * a layer of the network (its statistics were learned on what the layers
 * before it compute), which TFLite's converter computes in int8 on the
 * quantized input, so it gets its own range.
 */
function preprocessingOf(graph: Graph, consumers: Map<string, string[]>, input: GraphNode): string[] {
  const chain: string[] = [];
  let tail = input;
  for (;;) {
    const readers = consumers.get(tail.name) ?? [];
    if (graph.output === tail.name || readers.length !== 1) return chain;
    const next = nodeByName(graph, readers[0]!);
    if (next.op !== 'affine' || next.kerasClass === 'BatchNormalization') return chain;
    chain.push(next.name);
    tail = next;
  }
}

/** The Activation fused into `node`: its only consumer, a ReLU/ReLU6/linear, with nothing non-linear before it. */
function fusibleActivation(graph: Graph, consumers: Map<string, string[]>, node: GraphNode): string | null {
  const readers = consumers.get(node.name) ?? [];
  if (graph.output === node.name || readers.length !== 1) return null;
  const next = nodeByName(graph, readers[0]!);
  if (next.op !== 'activation' || !FUSIBLE_ACTIVATIONS.has(next.activation)) return null;
  // A layer already ending in relu cannot take a second fused activation (a linear one is harmless).
  if (isWeighted(node) && node.activation !== 'linear' && next.activation !== 'linear') return null;
  return next.name;
}

const ROLE: Record<Exclude<OpGroupKind, 'batchNorm' | 'pass' | 'layer'>, ActivationRole> = {
  input: 'input',
  weighted: 'layer',
  add: 'add',
  mul: 'mul',
  concat: 'concat',
  activation: 'activation',
  affine: 'affine',
};

/** Thrown by planQuantization when the run must not go on; lintModel reports the same conditions before a run starts. */
export class PlanError extends Error {
  constructor(
    message: string,
    readonly code: 'unsupported-layer' | 'axis-missing' | 'axis-single-channel',
    readonly layer: string,
  ) {
    super(message);
    this.name = 'PlanError';
  }
}

/**
 * What gets quantized in `graph` under `config` (see the module comment).
 * Throws a PlanError on an unsupported layer when config.unsupported is
 * 'stop', and on a per-channel axis a kernel does not have or that holds a
 * single channel while the kernel has several output channels.
 */
export function planQuantization(graph: Graph, config: RunConfig, opts: PlanOptions = {}): QuantPlan {
  const unsupportedLayers = unsupportedLayersOf(graph, opts.unsupportedLayers);
  const stopAt = config.unsupported === 'stop' ? unsupportedLayers[0] : undefined;
  if (stopAt) {
    const why = stopAt.reason ? ` (${stopAt.reason})` : '';
    throw new PlanError(
      `layer ${stopAt.name} (${stopAt.className}) cannot be quantized${why} and config.unsupported is 'stop'; set unsupported: 'keep-float' to run it in float`,
      'unsupported-layer',
      stopAt.name,
    );
  }
  const consumers = consumersOf(graph);
  const overrides = overridesByLayer(config);
  const unsupported = new Map(config.unsupported === 'keep-float' ? unsupportedLayers.map((u) => [u.name, u.className]) : []);
  const weights: WeightQuantizer[] = [];
  const activations: ActivationQuantizer[] = [];
  const float: FloatLayer[] = [];
  const tensors = new Map<string, TensorRange>();
  const rangeOf = (tensor: string) => tensors.get(tensor)?.range ?? null;

  for (const group of groupOps(graph, consumers)) {
    const head = nodeByName(graph, group.layers[0]!);
    const tail = group.layers[group.layers.length - 1]!;
    if (group.kind === 'pass') {
      const from = head.inputs[0]!;
      tensors.set(head.name, { tensor: head.name, range: rangeOf(from), how: 'passed-through', from });
      continue;
    }
    const why = floatReason(group, overrides, unsupported);
    if (why) {
      for (const layer of group.layers) {
        tensors.set(layer, { tensor: layer, range: null, how: 'float' });
        const className = unsupported.get(layer);
        float.push({ layer, reason: why.reason, ...(className ? { className } : {}), ...(why.carrier !== layer ? { fusedWith: why.carrier } : {}) });
      }
      continue;
    }
    const name = group.kind === 'input' ? 'input' : `${head.name}/output`;
    let bits: number | undefined;
    for (const layer of group.layers) bits = overrides.get(layer)?.activationBits ?? bits;
    if (isWeighted(head)) weights.push(weightQuantizer(head, config, overrides.get(head.name)?.weightBits, rangeOf(head.inputs[0]!)));
    activations.push({ name, role: ROLE[group.kind as keyof typeof ROLE], at: tail, layers: [...group.layers], spec: withBits(config.activations, bits), sharedWith: null });
    for (const layer of group.layers) {
      tensors.set(layer, layer === tail ? { tensor: layer, range: name, how: 'quantized' } : { tensor: layer, range: null, how: 'fused' });
    }
  }
  shareConcatRanges(graph, activations, rangeOf);
  const inGraph = new Set(graph.nodes.map((n) => n.name));
  for (const [layer, className] of unsupported) if (!inGraph.has(layer)) float.push({ layer, reason: 'unsupported', className });
  return { graph: graph.name, weights, activations, float, tensors: graph.nodes.map((n) => tensors.get(n.name)!) };
}

/** Why a whole op stays float (one integer op is all-float or all-int), and which of its layers says so. */
function floatReason(
  group: OpGroup,
  overrides: Map<string, LayerOverride>,
  unsupported: Map<string, string>,
): { reason: FloatReason; carrier: string } | null {
  const unsupportedLayer = group.layers.find((l) => unsupported.has(l));
  if (unsupportedLayer) return { reason: 'unsupported', carrier: unsupportedLayer };
  const overridden = group.layers.find((l) => overrides.get(l)?.float);
  if (overridden) return { reason: 'override', carrier: overridden };
  if (group.kind === 'batchNorm') return { reason: 'batchnorm-not-folded', carrier: group.layers[0]! };
  // Not reached: planQuantization stops at or keeps float every opaque layer; kept as a guard.
  if (group.kind === 'layer') return { reason: 'unsupported', carrier: group.layers[0]! };
  return null;
}

function weightQuantizer(node: WeightedNode, config: RunConfig, weightBits: number | undefined, input: string | null): WeightQuantizer {
  const { axis: _given, ...base } = withBits(config.weights, weightBits);
  const common = { name: `${node.name}/kernel`, layer: node.name, op: node.op, kernelShape: [...node.weights.kernel.shape], input };
  const resolved = resolveKernelAxis(node, config.weights.axis);
  if (config.weights.granularity === 'per-tensor') return { ...common, spec: base, view: resolved.view, axis: null, channels: 1 };
  if (!resolved.ok) {
    throw new PlanError(`per-channel axis ${resolved.axis} does not exist for the kernel of ${node.name} (quantized as ${shapeText(resolved.view)})`, 'axis-missing', node.name);
  }
  const out = outputChannels(node);
  if (resolved.channels === 1 && out > 1) {
    throw new PlanError(
      `per-channel axis ${resolved.axis} of the kernel of ${node.name} (quantized as ${shapeText(resolved.view)}) holds 1 channel, but the layer has ${out} output channels: that would be per-tensor under another name`,
      'axis-single-channel',
      node.name,
    );
  }
  return { ...common, spec: { ...base, axis: resolved.axis }, view: resolved.view, axis: resolved.axis, channels: resolved.channels };
}

/**
 * Puts each Concatenate's output and the quantizers of its inputs (through
 * pass-through ops) on one range: union-find over quantizer names, each group
 * named after its first Concatenate in graph order.
 */
function shareConcatRanges(graph: Graph, activations: ActivationQuantizer[], rangeOf: (tensor: string) => string | null): void {
  const parent = new Map<string, string>();
  const find = (q: string): string => {
    let root = q;
    while (parent.has(root)) root = parent.get(root)!;
    return root;
  };
  const concats = activations.filter((a) => a.role === 'concat');
  for (const cat of concats) {
    for (const input of nodeByName(graph, cat.layers[0]!).inputs) {
      const r = rangeOf(input);
      if (!r) continue;
      const [a, b] = [find(cat.name), find(r)];
      if (a !== b) parent.set(b, a);
    }
  }
  const named = new Map<string, string>();
  for (const cat of concats) if (!named.has(find(cat.name))) named.set(find(cat.name), cat.name);
  for (const q of activations) {
    const group = named.get(find(q.name));
    if (group && group !== q.name) q.sharedWith = group;
  }
}
