/**
 * The inference graph of a run: a quantized run in QDQ form (the ONNX
 * export's file, opset 21 / IR 10: EXPORT_FORMAT), the same graph with fake quant instead of QDQ (the
 * native evaluation's simulation; with a target's rounding, int32 biases and
 * ops of its own, the simulation an exported file is verified against:
 * SimulationLowering), or the float graph (native calibration).
 *
 * Layout: the model takes the studio's float NHWC input `input`
 * [batch, H, W, C] (or [batch, features]) and gives the float output
 * `output`. Inside, image tensors are NCHW, as ONNX Conv and pools require:
 * one Transpose (0,3,1,2) where a convolution or pool first reads an NHWC
 * tensor, and one back (0,2,3,1) before Flatten / Reshape (Keras flattens in
 * H,W,C order) and before the output (a Reshape for 1×1 images). Kernels are stored in ONNX's layout:
 * Conv2D [kh,kw,in,out] → [out,in,kh,kw]; DepthwiseConv2D [kh,kw,in,mult] →
 * [in·mult,1,kh,kw] with group = in (output channel i·mult + m, TF's order);
 * Dense [in,out] stays [in,out] as Gemm's B.
 *
 * Quantization (TF's unsigned-domain qparams converted by integerQParams;
 * storage types in qdq-types.ts):
 *  - weights: INT4 / INT8 / INT16 initializers (signed domain: zero point
 *    − 2^(bits−1); a narrow symmetric 8-bit kernel is [−127,127] with zero
 *    point 0) feeding a DequantizeLinear; per-channel scales and zero points
 *    as vectors with `axis` = 0 for Conv (output channels of [out,in,kh,kw])
 *    and 1 for Gemm's [in,out];
 *  - biases: int32 with scale f32(s_in·s_w[c]), zero point 0, through a
 *    DequantizeLinear (axis 0 when per-channel);
 *  - activations: QuantizeLinear → DequantizeLinear at every planned
 *    activation quantizer (after the fused ReLU/ReLU6), UINT4/8/16 for
 *    asymmetric specs, INT4/8/16 for symmetric ones (QuantizeLinear
 *    saturates at the type's range, so other widths or a narrow range would
 *    not be expressed: refused).
 * Layers the plan keeps float keep float initializers. In the export form
 * every node and initializer carries the Keras layer path it came from
 * (metadata_props `studio.layer`, and the node's doc_string), so a layer can
 * be found in Netron and back (onnxLayerMap lists them).
 *
 * Each op is lowered by ops/ (the lowering the training step shares); this
 * file adds what the inference graph is for: the weights as initializers,
 * the quantizers as QDQ pairs or fake quant, the model's input and output.
 */
import type { Graph, WeightedNode } from '../graph/types.js';
import { inputNode, isWeighted } from '../graph/types.js';
import { quantizedBiases } from '../integer/biases.js';
import { LoweringError } from '../lowering-error.js';
import { quantizeToInts } from '../quant/int-tensors.js';
import { integerQParams, type QParams } from '../quant/qparams.js';
import type { RoundingMode } from '../quant/fake-quant.js';
import type { ActivationQuantizer, QuantPlan, WeightQuantizer } from '../transform/plan.js';
import { encodeModel, onnxValue, OnnxBuilder, type OnnxValue } from './builder.js';
import { fakeQuantNodes, switchedFakeQuantNodes } from './fake-quant.js';
import { lowerOp, onnxKernelShape, toOnnxLayout, type LayerWeights } from './ops/index.js';
import { activationQdqType, qdqInts, weightQdqType } from './qdq-types.js';
import { decodeModel, DT, floats, tensor, type ModelProto } from './proto.js';

export type { OnnxBuilder, OnnxValue } from './builder.js';
export { samePads } from './padding.js';

/** The opset and IR version of a graph: the engine's own graphs (calibration, evaluation, simulations) or the exported file. */
export interface OnnxFormat {
  opset: number;
  irVersion: number;
  /** Tag every node and initializer with the Keras layer path it came from (LAYER_KEY). */
  layerTags: boolean;
}
/** The engine's own graphs: opset 13, IR 7 (the lowering's ops as onnxruntime runs them in every pass). */
export const ENGINE_FORMAT: OnnxFormat = { opset: 13, irVersion: 7, layerTags: false };
/** The exported QDQ file: opset 21 (INT4/UINT4, INT16/UINT16 QuantizeLinear), IR 10 (node and tensor metadata_props). */
export const EXPORT_FORMAT: OnnxFormat = { opset: 21, irVersion: 10, layerTags: true };
/** Metadata key of the Keras layer path on an exported node or initializer. */
export const LAYER_KEY = 'studio.layer';
export const ONNX_INPUT = 'input';
export const ONNX_OUTPUT = 'output';

export interface OnnxBuildInput {
  /** The folded graph the plan was made on. */
  graph: Graph;
  plan: QuantPlan;
  qparams: ReadonlyMap<string, QParams>;
  /** Stored as metadata (run id, config JSON...). */
  metadata?: Record<string, string>;
  /**
   * Lower the studio's own simulation instead of the file: every activation
   * quantizer as fake quant in float ops (fakeQuantNodes; TF's half-up unless
   * `rounding` says otherwise), planned kernels as the given fake-quantized
   * float values (Keras layout, by layer name), biases float unless given.
   * The PTQ simulation op for op, for the native evaluation; with the
   * target's rounding, int32 biases and kernels (`outputs`), the simulation
   * of an exported file. Any bit width.
   */
  simulate?: SimulationLowering;
  /** Opset and IR version (default ENGINE_FORMAT); EXPORT_FORMAT also tags every node and initializer with its Keras layer path. */
  format?: OnnxFormat;
}

/** A node's lowering replaced (SimulationLowering.replace): its inputs and its plain lowering, to call on changed inputs, give its output. */
export type NodeReplacement = (b: OnnxBuilder, args: OnnxValue[], lowered: (args: OnnxValue[]) => OnnxValue) => OnnxValue;

/** How the simulation graph departs from the run's PTQ simulation (see OnnxBuildInput.simulate). */
export interface SimulationLowering {
  /** Planned kernels, fake-quantized (Keras layout), by layer name; a layer not listed keeps its float kernel. */
  kernels: ReadonlyMap<string, Float32Array>;
  /** Rounding of the activation fake quant: one mode, or one per quantizer (default 'half-up', TF's). */
  rounding?: RoundingMode | ((quantizer: ActivationQuantizer) => RoundingMode);
  /** Bias values by layer (e.g. the int32 biases an integer file stores, dequantized); a layer not listed keeps its float bias. */
  biases?: ReadonlyMap<string, Float32Array>;
  /**
   * Nodes whose output the target computes otherwise than fake quant (a
   * kernel's table, a rounded mean): given the node's lowered value, the
   * function adds the ops and returns the output, which then replaces the
   * node's fake quant (none is added at that node).
   */
  outputs?: ReadonlyMap<string, (b: OnnxBuilder, v: OnnxValue) => OnnxValue>;
  /**
   * Nodes the target computes as a whole (an integer kernel's exact
   * arithmetic, targets/tflite/xnnpack-exact.ts): given the node's inputs and
   * its plain lowering as a function (to call on changed inputs), the ops that
   * replace the node's lowering.
   */
  replace?: ReadonlyMap<string, NodeReplacement>;
  /**
   * Every planned quantizer switchable per run of one session (engine/sensitivity):
   * each activation quantizer takes an on/off switch and its qparams as graph
   * inputs (onnx/fake-quant.ts switchedFakeQuantNodes), each planned kernel
   * is the graph input `<layer>/kernel` (ONNX layout), fed float or
   * fake-quantized. `kernels` is not read for planned layers then.
   */
  switched?: boolean;
  /**
   * Fake quant after a max pool, not before, where a quantizer's value feeds
   * only a max pool (poolFirstQuantizers): fake quant is monotone and acts
   * per tensor or per channel, so max(fq(a), fq(b)) = fq(max(a, b)) bit for
   * bit, on a quarter of the values (2x2 pools). Only for a graph that does
   * not return the quantizer's own value (the evaluation's accuracy graph).
   */
  poolsFirst?: boolean;
}

/**
 * The activation quantizers whose value only a max pool reads, by that pool's
 * node name (SimulationLowering.poolsFirst moves them after it). Not the
 * model's output; not for nodes a target computes otherwise.
 */
export function poolFirstQuantizers(graph: Graph, plan: QuantPlan, sim?: SimulationLowering): Map<string, ActivationQuantizer> {
  const out = new Map<string, ActivationQuantizer>();
  if (sim?.switched) return out;
  for (const a of plan.activations) {
    if (a.at === graph.output || sim?.outputs?.has(a.at) || sim?.replace?.has(a.at)) continue;
    const readers = graph.nodes.filter((m) => m.inputs.includes(a.at));
    const pool = readers.length === 1 ? readers[0]! : null;
    if (!pool || (pool.op !== 'maxPool2d' && pool.op !== 'globalMaxPool2d') || sim?.replace?.has(pool.name) || out.has(pool.name)) continue;
    out.set(pool.name, a);
  }
  return out;
}

/** The graph input holding a planned kernel in a switched simulation (ONNX layout, see onnxKernelShape). */
export function switchedKernelInput(layer: string): string {
  return `${layer}/kernel`;
}

/** Per-axis ONNX axis of a weight quantizer's channel axis (on its view). */
export function onnxWeightAxis(wq: WeightQuantizer): number | null {
  if (wq.axis === null) return null;
  if (wq.op === 'dense') return wq.axis; // Gemm B is [in, out], the Keras layout.
  // conv [kh,kw,in,out] → [out,in,kh,kw]; depthwise view [kh,kw,in·mult] → [in·mult,1,kh,kw].
  const conv = [2, 3, 1, 0];
  const dw = [2, 3, 0];
  return (wq.op === 'conv2d' ? conv : dw)[wq.axis]!;
}

/** Is the channel axis the output-channel axis (so a bias can take s_in·s_w[c])? */
function perOutputChannel(wq: WeightQuantizer): boolean {
  return wq.axis === null || wq.axis === wq.view.length - 1;
}

/** Builds the ONNX model (not yet serialized). Throws a LoweringError naming the tensor the format cannot express. */
export function buildOnnx(input: OnnxBuildInput): ModelProto {
  return buildOnnxGraph(input).model;
}

/**
 * {@link buildOnnx}, also telling where each graph node's value (after its
 * activation quantizer, if any) lives in the ONNX graph, so a caller can
 * read it out (the native calibration adds reductions there).
 */
export function buildOnnxGraph(input: OnnxBuildInput): { model: ModelProto; values: ReadonlyMap<string, OnnxValue> } {
  const { graph, plan, qparams } = input;
  const format = input.format ?? ENGINE_FORMAT;
  const b = new OnnxBuilder('named');
  const values = new Map<string, OnnxValue>();
  const weightQ = new Map(plan.weights.map((w) => [w.layer, w]));
  const actAt = new Map(plan.activations.map((a) => [a.at, a]));
  const biases = input.simulate ? new Map() : quantizedBiases(graph, plan, qparams);
  const qp = (name: string) => {
    const a = plan.activations.find((x) => x.name === name);
    const q = qparams.get(a?.sharedWith ?? name);
    if (!q) throw new LoweringError(`no qparams for quantizer ${name}`, 'run', { tensor: name, format: 'onnx' });
    return q;
  };

  const sim = input.simulate;
  const afterPool = sim?.poolsFirst ? poolFirstQuantizers(graph, plan, sim) : new Map<string, ActivationQuantizer>();
  const deferred = new Set([...afterPool.values()].map((a) => a.at));
  const roundingOf = (a: ActivationQuantizer): RoundingMode => (typeof sim?.rounding === 'function' ? sim.rounding(a) : (sim?.rounding ?? 'half-up'));

  /** QuantizeLinear → DequantizeLinear on a value, for activation quantizer `a` (fake quant when simulating). */
  const qdq = (v: OnnxValue, a: ActivationQuantizer): OnnxValue => {
    const name = a.name;
    const q = qp(name);
    const channelAxis = v.rank === 4 && v.nchw ? 1 : v.rank - 1;
    if (sim?.switched) return { ...v, name: switchedFakeQuantNodes(b, v, name, q.scale.length, q.granularity === 'per-channel' ? channelAxis : null).output };
    // v is read by nothing else (values keep the quantized value), so the fake quant may take over a clip v is.
    if (sim) return { ...v, name: fakeQuantNodes(b, v, name, q, q.granularity === 'per-channel' ? channelAxis : null, roundingOf(a), { ownClip: true }) };
    const type = activationQdqType(name, q, format.opset);
    const iq = integerQParams(q, type.domain);
    const perAxis = q.granularity === 'per-channel';
    const dims = perAxis ? [q.scale.length] : [];
    const scale = b.f32(q.scale, dims, `${name}/scale`);
    const zp = b.initializer(tensor(`${name}/zero_point`, type.dt, dims, qdqInts(type, iq.zeroPoint)));
    const attrs: Record<string, number> = perAxis ? { axis: channelAxis } : {};
    const quantized = b.op('QuantizeLinear', [v.name, scale, zp], attrs, `${name}/QuantizeLinear`);
    return { ...v, name: b.op('DequantizeLinear', [quantized, scale, zp], attrs, `${name}/DequantizeLinear`) };
  };

  /** Kernel (and bias) inputs of a weighted layer: DequantizeLinear of ints when planned, float otherwise. */
  const weightInputs = (n: WeightedNode): LayerWeights => {
    const kernelName = `${n.name}/kernel`;
    const shape = onnxKernelShape(n);
    const wq = weightQ.get(n.name);
    const floatKernel = input.simulate ? (input.simulate.kernels.get(n.name) ?? n.weights.kernel.values) : !wq ? n.weights.kernel.values : null;
    let kernel: string;
    if (sim?.switched && wq) kernel = b.input(switchedKernelInput(n.name), shape);
    else if (floatKernel) {
      kernel = b.initializer(floats(kernelName, shape, toOnnxLayout(n, floatKernel, (k) => new Float32Array(k))));
    } else {
      const q = qparams.get(wq!.name);
      if (!q) throw new LoweringError(`no qparams for weight ${wq!.name}`, 'run', { tensor: wq!.name, format: 'onnx' });
      const type = weightQdqType(wq!.name, q.bits, format.opset);
      const { ints, iq } = quantizeToInts(n.weights.kernel.values, wq!.view, wq!.axis ?? undefined, q, 'signed');
      const onnxInts = toOnnxLayout(n, ints, (k) => new Int32Array(k));
      const perAxis = wq!.axis !== null;
      const dims = perAxis ? [iq.scale.length] : [];
      const quantized = b.initializer(tensor(`${kernelName}/quantized`, type.dt, shape, qdqInts(type, onnxInts)));
      const scale = b.f32(iq.scale, dims, `${kernelName}/scale`);
      const zp = b.initializer(tensor(`${kernelName}/zero_point`, type.dt, dims, qdqInts(type, iq.zeroPoint)));
      kernel = b.op('DequantizeLinear', [quantized, scale, zp], perAxis ? { axis: onnxWeightAxis(wq!)! } : {}, { node: `${kernelName}/DequantizeLinear`, output: kernelName });
    }
    const bias = n.weights.bias;
    if (!bias) return { kernel };
    const biasName = `${n.name}/bias`;
    const qb = input.simulate ? undefined : biases.get(n.name);
    if (wq && qb && !perOutputChannel(wq)) {
      throw new LoweringError(`weight ${wq.name} is per-channel on axis ${wq.axis}, not its output channels: the int32 bias of ${n.name} cannot take scale s_in·s_w`, 'unsupported', { tensor: biasName, format: 'onnx' });
    }
    if (!qb) {
      const values = sim?.biases?.get(n.name) ?? bias.values;
      if (values.length !== bias.values.length) throw new LoweringError(`the simulated bias of ${n.name} has ${values.length} values, the layer ${bias.values.length}`, 'run', { tensor: biasName, format: 'onnx' });
      return { kernel, bias: b.f32(values, [values.length], biasName) };
    }
    const perAxis = wq!.axis !== null;
    const dims = perAxis ? [qb.scales.length] : [];
    const quantized = b.initializer(tensor(`${biasName}/quantized`, DT.INT32, [qb.ints.length], qb.ints));
    const scale = b.f32(perAxis ? qb.scales : qb.scales.subarray(0, 1), dims, `${biasName}/scale`);
    const zp = b.initializer(tensor(`${biasName}/zero_point`, DT.INT32, dims, new Int32Array(dims.length ? dims[0]! : 1)));
    return { kernel, bias: b.op('DequantizeLinear', [quantized, scale, zp], perAxis ? { axis: 0 } : {}, { node: `${biasName}/DequantizeLinear`, output: biasName }) };
  };

  const inNode = inputNode(graph);
  b.input(ONNX_INPUT, ['batch', ...inNode.outputShape]);
  for (const n of graph.nodes) {
    const mark = b.mark();
    let v: OnnxValue;
    if (n.op === 'input') v = onnxValue(ONNX_INPUT, n.outputShape, false);
    else {
      const args = n.inputs.map((i) => {
        const a = values.get(i);
        if (!a) throw new LoweringError(`layer ${n.name} reads ${i}, which is not computed before it`, 'unsupported', { tensor: n.name, format: 'onnx' });
        return a;
      });
      const replace = sim?.replace?.get(n.name);
      v = replace ? replace(b, args, (xs) => lowerOp(b, n, xs, weightInputs)) : lowerOp(b, n, args, weightInputs);
    }
    const pooled = afterPool.get(n.name);
    if (pooled) v = qdq(v, pooled);
    const a = actAt.get(n.name);
    const custom = sim?.outputs?.get(n.name);
    if (custom) v = custom(b, v);
    else if (a && !deferred.has(n.name)) v = qdq(v, a);
    values.set(n.name, v);
    if (format.layerTags) b.tagLayer(mark, LAYER_KEY, n.name);
  }
  const mark = b.mark();
  const last = b.layout(values.get(graph.output)!, false);
  b.output(ONNX_OUTPUT, last.name, ['batch', ...last.shape]);
  if (format.layerTags) b.tagLayer(mark, LAYER_KEY, graph.output);
  const model = b.model(graph.name, {
    opset: format.opset,
    irVersion: format.irVersion,
    producerVersion: '0.1.0',
    domain: 'studio.quantization',
    modelVersion: 1,
    docString: `${graph.name}, quantized (QDQ). Input: float NHWC; output: float.`,
    metadata: input.metadata ?? {},
  });
  return { model, values };
}

export function encodeOnnx(model: ModelProto): Uint8Array {
  return encodeModel(model);
}

export function decodeOnnx(bytes: Uint8Array): ModelProto {
  return decodeModel(bytes);
}

/** Used by the audit: weighted layers and whether each has a kernel quantizer. */
export function weightedLayers(graph: Graph): WeightedNode[] {
  return graph.nodes.filter(isWeighted);
}
