/**
 * How each layer of a model is quantized under a config, in words, for the
 * Model view and `studio explain`: one line per layer of the model as stored
 * (BatchNormalizations included), read off the fold and the plan, not decided
 * again here.
 *
 * Kinds:
 *  - input: the model input (its quantizer, after any preprocessing);
 *  - preprocessing: a Rescaling / Normalization the input quantizer follows
 *    (float, before the integer model);
 *  - own-range: the layer's output has an activation quantizer of its own
 *    (a Conv with its fused ReLU, Multiply, Add, hard swish, a mid-model
 *    Rescaling, a BatchNormalization computed as a multiply-add…);
 *  - shared-range: its output is on another tensor's range: a pass-through op
 *    (ZeroPadding2D, pools, Flatten…: TFLite keeps the input's scale and zero
 *    point) or a Concatenate input (one scale for a CONCATENATION's inputs and
 *    output);
 *  - fused: computed inside another layer's integer op (a ReLU fused into the
 *    Conv before it), no tensor of its own;
 *  - folded: a BatchNormalization folded into the layer before it;
 *  - float: kept float (override, unsupported layer), no range.
 */
import type { Activation, Graph, GraphNode, OpKind } from '../graph/types.js';
import type { FoldRecord } from './fold-batchnorm.js';
import { kerasClassOf } from './graph-queries.js';
import type { ActivationQuantizer, QuantPlan } from './plan.js';

export type LayerQuantKind = 'input' | 'preprocessing' | 'own-range' | 'shared-range' | 'fused' | 'folded' | 'float';

export interface LayerQuantization {
  /** The layer's name in the model as stored. */
  layer: string;
  kind: LayerQuantKind;
  /** The activation quantizer whose range the layer's output carries (its own or the one it shares), or null. */
  range: string | null;
  /** The kernel's quantizer, for a Dense / Conv2D / DepthwiseConv2D quantized: e.g. "conv/kernel: 8-bit, per-channel (16 scales, axis 3)". */
  kernel: string | null;
  /** One or two sentences: what the integer model does with this layer. */
  note: string;
}

/** Why a pass-through op may keep its input's range, as TFLite's kernels do. */
const PASS_THROUGH_WHY: Partial<Record<OpKind, string>> = {
  zeroPad2d: "TFLite's PAD keeps the input's scale and zero point (the zeros it adds are exact on that grid)",
  crop2d: 'cropping (SLICE) only drops values',
  upSample2d: 'nearest up-sampling repeats values',
  maxPool2d: 'a max picks one of its input values',
  globalMaxPool2d: 'a max picks one of its input values',
  avgPool2d: "an average stays within its input's range (TFLite's AVERAGE_POOL_2D keeps the input's scale and zero point)",
  globalAvgPool2d: "an average stays within its input's range (TFLite's MEAN / AVERAGE_POOL_2D keep the input's scale and zero point)",
  flatten: 'it only moves values',
  reshape: 'it only moves values',
  dropout: 'it is the identity at inference',
};

/** The TFLite op(s) a standalone activation becomes. */
const TFLITE_ACTIVATION: Partial<Record<Activation, string>> = {
  relu: 'RELU',
  relu6: 'RELU6',
  sigmoid: 'LOGISTIC',
  tanh: 'TANH',
  softmax: 'SOFTMAX',
  swish: 'LOGISTIC then MUL',
  hard_swish: 'HARD_SWISH',
  hard_sigmoid: 'ADD, RELU6 and MUL',
  leaky_relu: 'LEAKY_RELU',
};

/**
 * One LayerQuantization per node of `source` (the model as stored), in its
 * order, from its fold (`folded` graph and records) and the plan of the
 * folded graph.
 */
export function layerQuantization(source: Graph, folded: Graph, records: readonly FoldRecord[], plan: QuantPlan): LayerQuantization[] {
  const tensors = new Map(plan.tensors.map((t) => [t.tensor, t]));
  const quantizers = new Map(plan.activations.map((a) => [a.name, a]));
  const groupOf = new Map<string, ActivationQuantizer>();
  for (const a of plan.activations) for (const l of a.layers) groupOf.set(l, a);
  const kernels = new Map(plan.weights.map((w) => [w.layer, w]));
  const foldedInto = new Map(records.map((r) => [r.batchNorm, r.layer]));
  const absorbed = new Map<string, string[]>();
  for (const r of records) absorbed.set(r.layer, [...(absorbed.get(r.layer) ?? []), r.batchNorm]);
  const floats = new Map(plan.float.map((f) => [f.layer, f]));
  const foldedNodes = new Map(folded.nodes.map((n) => [n.name, n]));
  const inputQ = plan.activations.find((a) => a.role === 'input');

  const kernelText = (name: string): string | null => {
    const w = kernels.get(name);
    if (!w) return null;
    const how = w.axis === null ? 'per-tensor (one scale)' : `per-channel (${w.channels} scales, axis ${w.axis} of [${w.view.join(',')}])`;
    return `${w.name}: ${w.spec.bits}-bit ${w.spec.symmetric ? 'symmetric' : 'asymmetric'}, ${how}`;
  };

  return source.nodes.map((src): LayerQuantization => {
    const name = src.name;
    const into = foldedInto.get(name);
    if (into) {
      // The range of the op it went into (taken after that op's fused activation, if any).
      const r = groupOf.get(into)?.name ?? null;
      return { layer: name, kind: 'folded', range: r, kernel: null, note: `Folded into ${into}: its scale and shift are in ${into}'s kernel and bias, so it is no op of the integer model and needs no range of its own.` };
    }
    const node = foldedNodes.get(name) ?? src;
    const t = tensors.get(name);
    const kernel = kernelText(name);
    const withFolds = absorbed.has(name) ? ` (with ${absorbed.get(name)!.join(', ')} folded in)` : '';
    const float = floats.get(name);
    if (!t || t.how === 'float' || float) {
      const why =
        float?.reason === 'override'
          ? `kept float by an override${float.fusedWith && float.fusedWith !== name ? ` of ${float.fusedWith}, as one op with it` : ''}`
          : float?.reason === 'unsupported'
            ? `the studio cannot quantize ${float.className ?? kerasClassOf(node)}, and unsupported: keep-float runs it in float`
            : 'a BatchNormalization that is neither folded nor a multiply-add';
      return { layer: name, kind: 'float', range: null, kernel: null, note: `Float: ${why}; its output has no range.` };
    }
    if (inputQ && inputQ.layers.includes(name)) {
      if (node.op === 'input') {
        const pre = inputQ.layers.slice(1);
        const note = pre.length > 0 ? `The model input. Its preprocessing (${pre.join(', ')}) runs before the integer model, whose input quantizer (${inputQ.name}) takes ${pre[pre.length - 1]}'s output.` : `The model input, quantized on its own range (${inputQ.name}).`;
        return { layer: name, kind: 'input', range: inputQ.name, kernel: null, note };
      }
      return {
        layer: name,
        kind: 'preprocessing',
        range: inputQ.at === name ? inputQ.name : null,
        kernel: null,
        note: `Input preprocessing (${kerasClassOf(node)}): computed in float before the integer model${inputQ.at === name ? `; the input quantizer (${inputQ.name}) follows it` : ''}.`,
      };
    }
    if (t.how === 'passed-through') {
      const origin = t.range;
      const why = PASS_THROUGH_WHY[node.op] ?? 'it keeps its input values';
      const keep = node.op === 'globalAvgPool2d' && node.keepdims ? ' With keepdims its output is [1, 1, C], the squeeze-and-excite gate shape.' : '';
      return {
        layer: name,
        kind: 'shared-range',
        range: origin,
        kernel: null,
        note: origin ? `Shares the range of its input ${t.from} (${origin}): ${why}.${keep}` : `Passes its input ${t.from} on, which has no range: ${why}.${keep}`,
      };
    }
    // Quantized: its op's head (which the op's range belongs to, taken after a fused activation) or the activation fused into it.
    const q = groupOf.get(name)!;
    const head = q.layers[0]!;
    if (head !== name) {
      return { layer: name, kind: 'fused', range: q.name, kernel: null, note: `Fused into ${head} (TFLite's fused_activation_function): ${head}'s output range ${q.name} is taken after it.` };
    }
    const shared = q.sharedWith ? quantizers.get(q.sharedWith) : undefined;
    if (shared) {
      return {
        layer: name,
        kind: 'shared-range',
        range: shared.name,
        kernel,
        note: `Its output shares the range of ${shared.layers[0]} (${shared.name}): TFLite's int8 CONCATENATION needs its inputs and output on one scale and zero point.${withFolds ? ` Kernel and bias${withFolds}.` : ''}`,
      };
    }
    return { layer: name, kind: 'own-range', range: q.name, kernel, note: ownRangeNote(node, q, withFolds) };
  });
}

function ownRangeNote(node: GraphNode, q: ActivationQuantizer, withFolds: string): string {
  const fused = q.layers.length > 1 ? ` after its fused ${q.layers.slice(1).join(', ')}` : '';
  const range = `its own output range ${q.name}${fused} (${q.spec.bits}-bit ${q.spec.symmetric ? 'symmetric' : 'asymmetric'}, ${q.spec.granularity})`;
  switch (q.role) {
    case 'layer':
      return `Quantized kernel${withFolds}, int32 bias on s_input·s_weight, and ${range}.`;
    case 'mul':
      return `Multiply (TFLite's MUL): the product gets ${range}.`;
    case 'add':
      return `Add (TFLite's ADD rescales each input): ${range}.`;
    case 'concat':
      return `Concatenate: ${range}, which its inputs share (one scale and zero point for TFLite's CONCATENATION).`;
    case 'activation': {
      const act = node.op === 'activation' ? node.activation : 'linear';
      const tflite = TFLITE_ACTIVATION[act];
      return `Activation ${act}, not fused into a layer before it (${tflite ? `TFLite computes it as ${tflite}, ` : ''}with an output scale of its own): ${range}.`;
    }
    case 'affine':
      return node.op === 'affine' && node.kerasClass === 'BatchNormalization'
        ? `A BatchNormalization with nothing to fold into: a per-channel multiply-add x·s + t (TFLite's MUL + ADD) with ${range}.`
        : `${node.op === 'affine' && node.kerasClass ? node.kerasClass : 'Rescaling'} inside the model (not the input's preprocessing): x·scale + offset with ${range}.`;
    default:
      return `${range[0]!.toUpperCase()}${range.slice(1)}.`;
  }
}
