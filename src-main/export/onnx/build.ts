/**
 * A quantized run as an ONNX model in QDQ form (opset 13), built with the
 * protobufjs classes of the official onnx.proto.
 *
 * Layout: the model takes the studio's float NHWC input `input`
 * [batch, H, W, C] (or [batch, features]) and gives the float output
 * `output`. Inside, image tensors are NCHW, as ONNX Conv and pools require:
 * one Transpose (0,3,1,2) where a convolution or pool first reads an NHWC
 * tensor, and one back (0,2,3,1) before Flatten / Reshape (Keras flattens in
 * H,W,C order) and before the output. Kernels are stored in ONNX's layout:
 * Conv2D [kh,kw,in,out] → [out,in,kh,kw]; DepthwiseConv2D [kh,kw,in,mult] →
 * [in·mult,1,kh,kw] with group = in (output channel i·mult + m, TF's order);
 * Dense [in,out] stays [in,out] as Gemm's B.
 *
 * Quantization (TF's unsigned-domain qparams converted by integerQParams):
 *  - weights: int8 initializers (signed domain: zero point − 2^(bits−1); a
 *    narrow symmetric 8-bit kernel is [−127,127] with zero point 0) feeding a
 *    DequantizeLinear; per-channel scales and zero points as vectors with
 *    `axis` = 0 for Conv (output channels of [out,in,kh,kw]) and 1 for Gemm's
 *    [in,out];
 *  - biases: int32 with scale f32(s_in·s_w[c]), zero point 0, through a
 *    DequantizeLinear (axis 0 when per-channel);
 *  - activations: QuantizeLinear → DequantizeLinear at every planned
 *    activation quantizer (after the fused ReLU/ReLU6), uint8 for asymmetric
 *    specs, int8 for symmetric ones, 8 bits only (QuantizeLinear saturates
 *    at the type's range, so other widths or a narrow range would not be
 *    expressed: refused).
 * Layers the plan keeps float keep float initializers.
 */
import type { Activation, Graph, GraphNode, WeightedNode } from '../../engine/graph/types.js';
import { inputNode, isWeighted } from '../../engine/graph/types.js';
import type { QParams } from '../../engine/quant/qparams.js';
import type { QuantPlan, WeightQuantizer } from '../../engine/transform/plan.js';
import { ExportError } from '../errors.js';
import { quantizeToInts } from '../int-tensors.js';
import { quantizedBiases } from '../simulate.js';
import { fakeQuantNodes } from './fake-quant.js';
import { activationNodes, emitMobileOp, type EmitContext } from './mobile-ops.js';
import { DT, floats, int64s, node, onnx, tensor, type ModelProto, type NodeProto, type TensorProto } from '../../engine/onnx/proto.js';

export const ONNX_OPSET = 13;
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
   * quantizer as TF's fake quant (half-up, float ops: see fakeQuantNodes),
   * planned kernels as the given fake-quantized float values (Keras layout,
   * by layer name), biases float. The PTQ simulation op for op, for the
   * native evaluation; any bit width.
   */
  simulate?: { kernels: ReadonlyMap<string, Float32Array> };
}

/** Where a graph node's value lives in the ONNX graph. */
export interface OnnxValue {
  name: string;
  /** Rank with the batch axis. */
  rank: number;
  /** Rank-4 tensors: whether this value is in NCHW. */
  nchw: boolean;
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

export { samePads } from '../../engine/onnx/padding.js';
import { samePads } from '../../engine/onnx/padding.js';

/** Conv kernel [kh,kw,in,out] (or int values in that layout) → [out,in,kh,kw]. */
function convToOihw<T extends Float32Array | Int32Array>(v: T, shape: readonly number[], make: (n: number) => T): T {
  const [kh, kw, ci, co] = shape as [number, number, number, number];
  const out = make(v.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++)
        for (let o = 0; o < co; o++) out[((o * ci + i) * kh + y) * kw + x] = v[((y * kw + x) * ci + i) * co + o]!;
  return out;
}

/** Depthwise kernel [kh,kw,in,mult] → [in·mult,1,kh,kw]. */
function depthwiseToOihw<T extends Float32Array | Int32Array>(v: T, shape: readonly number[], make: (n: number) => T): T {
  const [kh, kw, ci, m] = shape as [number, number, number, number];
  const out = make(v.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++)
        for (let k = 0; k < m; k++) out[((i * m + k) * kh + y) * kw + x] = v[((y * kw + x) * ci + i) * m + k]!;
  return out;
}

function onnxKernelShape(n: WeightedNode): number[] {
  const s = n.weights.kernel.shape;
  if (n.op === 'conv2d') return [s[3]!, s[2]!, s[0]!, s[1]!];
  if (n.op === 'depthwiseConv2d') return [s[2]! * s[3]!, 1, s[0]!, s[1]!];
  return [...s];
}

function toOnnxLayout<T extends Float32Array | Int32Array>(n: WeightedNode, v: T, make: (n: number) => T): T {
  if (n.op === 'conv2d') return convToOihw(v, n.weights.kernel.shape, make);
  if (n.op === 'depthwiseConv2d') return depthwiseToOihw(v, n.weights.kernel.shape, make);
  return v;
}

/** The ONNX activation data type of a spec: uint8 asymmetric, int8 symmetric. */
export function activationType(qp: QParams): { dt: number; domain: 'signed' | 'unsigned' } {
  return qp.symmetric ? { dt: DT.INT8, domain: 'signed' } : { dt: DT.UINT8, domain: 'unsigned' };
}

/** Builds the ONNX model (not yet serialized). Throws an ExportError naming the tensor the format cannot express. */
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
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  const values = new Map<string, OnnxValue>();
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const weightQ = new Map(plan.weights.map((w) => [w.layer, w]));
  const actAt = new Map(plan.activations.map((a) => [a.at, a]));
  const biases = input.simulate ? new Map() : quantizedBiases(graph, plan, qparams);
  const transposed = new Map<string, string>();
  let counter = 0;
  const uniq = (base: string) => `${base}__${counter++}`;
  const qp = (name: string) => {
    const a = plan.activations.find((x) => x.name === name);
    const q = qparams.get(a?.sharedWith ?? name);
    if (!q) throw new ExportError(`no qparams for quantizer ${name}`, 'run', { tensor: name, format: 'onnx' });
    return q;
  };

  const layout = (v: OnnxValue, nchw: boolean): OnnxValue => {
    if (v.rank !== 4 || v.nchw === nchw) return v;
    const key = `${v.name}|${nchw}`;
    let name = transposed.get(key);
    if (!name) {
      name = `${v.name}/${nchw ? 'nchw' : 'nhwc'}`;
      nodes.push(node('Transpose', name, [v.name], [name], { perm: nchw ? [0, 3, 1, 2] : [0, 2, 3, 1] }));
      transposed.set(key, name);
    }
    return { name, rank: 4, nchw };
  };

  const ctx: EmitContext = { nodes, inits, layout, shapeOf: (name) => byName.get(name)!.outputShape };

  const activate = (v: OnnxValue, act: Activation, prefix: string, alpha?: number): OnnxValue => {
    const out = (op: string) => `${prefix}/${op}`;
    switch (act) {
      case 'linear':
        return v;
      case 'relu':
        nodes.push(node('Relu', out('relu'), [v.name], [out('relu')]));
        return { ...v, name: out('relu') };
      case 'relu6': {
        const lo = `${prefix}/relu6_min`;
        const hi = `${prefix}/relu6_max`;
        inits.push(floats(lo, [], [0]), floats(hi, [], [6]));
        nodes.push(node('Clip', out('relu6'), [v.name, lo, hi], [out('relu6')]));
        return { ...v, name: out('relu6') };
      }
      case 'sigmoid':
        nodes.push(node('Sigmoid', out('sigmoid'), [v.name], [out('sigmoid')]));
        return { ...v, name: out('sigmoid') };
      case 'tanh':
        nodes.push(node('Tanh', out('tanh'), [v.name], [out('tanh')]));
        return { ...v, name: out('tanh') };
      case 'softmax':
        nodes.push(node('Softmax', out('softmax'), [v.name], [out('softmax')], { axis: v.rank === 4 && v.nchw ? 1 : -1 }));
        return { ...v, name: out('softmax') };
      default:
        return activationNodes(ctx, v, act, prefix, alpha);
    }
  };

  /** QuantizeLinear → DequantizeLinear on a value, for activation quantizer `name` (fake quant when simulating). */
  const qdq = (v: OnnxValue, name: string): OnnxValue => {
    const q = qp(name);
    if (input.simulate) {
      const channelAxis = q.granularity === 'per-channel' ? (v.rank === 4 && v.nchw ? 1 : v.rank - 1) : null;
      const out = fakeQuantNodes(v.name, name, q, v.rank, channelAxis, nodes, inits);
      return { ...v, name: out };
    }
    if (q.bits !== 8) throw new ExportError(`activation ${name} has ${q.bits} bits; ONNX QuantizeLinear (opset ${ONNX_OPSET}) stores 8-bit activations only`, 'unsupported', { tensor: name, format: 'onnx' });
    if (q.narrowRange) throw new ExportError(`activation ${name} is narrow range; ONNX QuantizeLinear saturates at the full int8/uint8 range and cannot express it`, 'unsupported', { tensor: name, format: 'onnx' });
    const { dt, domain } = activationType(q);
    const offset = domain === 'signed' ? 128 : 0;
    const perAxis = q.granularity === 'per-channel';
    const dims = perAxis ? [q.scale.length] : [];
    const zps = Array.from(q.zeroPoint, (z) => z - offset);
    const scaleName = `${name}/scale`;
    const zpName = `${name}/zero_point`;
    inits.push(floats(scaleName, dims, q.scale), tensor(zpName, dt, dims, dt === DT.INT8 ? Int8Array.from(zps) : Uint8Array.from(zps)));
    const attrs: Record<string, number> = perAxis ? { axis: v.rank === 4 && v.nchw ? 1 : v.rank - 1 } : {};
    const qName = `${name}/QuantizeLinear`;
    const dqName = `${name}/DequantizeLinear`;
    nodes.push(node('QuantizeLinear', qName, [v.name, scaleName, zpName], [qName], attrs));
    nodes.push(node('DequantizeLinear', dqName, [qName, scaleName, zpName], [dqName], attrs));
    return { ...v, name: dqName };
  };

  /** Kernel (and bias) inputs of a weighted layer: DequantizeLinear of ints when planned, float otherwise. */
  const weightInputs = (n: WeightedNode): string[] => {
    const kernelName = `${n.name}/kernel`;
    const shape = onnxKernelShape(n);
    const wq = weightQ.get(n.name);
    const out: string[] = [];
    const simulated = input.simulate ? (input.simulate.kernels.get(n.name) ?? n.weights.kernel.values) : null;
    if (simulated) {
      inits.push(floats(kernelName, shape, toOnnxLayout(n, simulated, (k) => new Float32Array(k))));
      out.push(kernelName);
    } else if (!wq) {
      inits.push(floats(kernelName, shape, toOnnxLayout(n, n.weights.kernel.values, (k) => new Float32Array(k))));
      out.push(kernelName);
    } else {
      const q = qparams.get(wq.name);
      if (!q) throw new ExportError(`no qparams for weight ${wq.name}`, 'run', { tensor: wq.name, format: 'onnx' });
      if (q.bits > 8) throw new ExportError(`weight ${wq.name} has ${q.bits} bits; ONNX opset ${ONNX_OPSET} stores int8 weights only`, 'unsupported', { tensor: wq.name, format: 'onnx' });
      const { ints, iq } = quantizeToInts(n.weights.kernel.values, wq.view, wq.axis ?? undefined, q, 'signed');
      const onnxInts = toOnnxLayout(n, ints, (k) => new Int32Array(k));
      const perAxis = wq.axis !== null;
      const dims = perAxis ? [iq.scale.length] : [];
      const qName = `${kernelName}/quantized`;
      inits.push(
        tensor(qName, DT.INT8, shape, Int8Array.from(onnxInts)),
        floats(`${kernelName}/scale`, dims, iq.scale),
        tensor(`${kernelName}/zero_point`, DT.INT8, dims, Int8Array.from(iq.zeroPoint)),
      );
      const attrs: Record<string, number> = perAxis ? { axis: onnxWeightAxis(wq)! } : {};
      nodes.push(node('DequantizeLinear', `${kernelName}/DequantizeLinear`, [qName, `${kernelName}/scale`, `${kernelName}/zero_point`], [kernelName], attrs));
      out.push(kernelName);
    }
    const bias = n.weights.bias;
    if (bias) {
      const biasName = `${n.name}/bias`;
      const qb = input.simulate ? undefined : biases.get(n.name);
      if (wq && qb && !perOutputChannel(wq)) {
        throw new ExportError(`weight ${wq.name} is per-channel on axis ${wq.axis}, not its output channels: the int32 bias of ${n.name} cannot take scale s_in·s_w`, 'unsupported', { tensor: `${n.name}/bias`, format: 'onnx' });
      }
      if (qb) {
        const perAxis = wq!.axis !== null;
        const dims = perAxis ? [qb.scales.length] : [];
        const scales = perAxis ? qb.scales : qb.scales.subarray(0, 1);
        inits.push(
          tensor(`${biasName}/quantized`, DT.INT32, [qb.ints.length], qb.ints),
          floats(`${biasName}/scale`, dims, scales),
          tensor(`${biasName}/zero_point`, DT.INT32, dims, new Int32Array(dims.length ? dims[0]! : 1)),
        );
        nodes.push(node('DequantizeLinear', `${biasName}/DequantizeLinear`, [`${biasName}/quantized`, `${biasName}/scale`, `${biasName}/zero_point`], [biasName], perAxis ? { axis: 0 } : {}));
      } else {
        inits.push(floats(biasName, [bias.values.length], bias.values));
      }
      out.push(biasName);
    }
    return out;
  };

  const spatialIn = (n: GraphNode): number[] => byName.get(n.inputs[0]!)!.outputShape;

  const emit = (n: Exclude<GraphNode, { op: 'input' }>, args: OnnxValue[]): OnnxValue => {
    const x = args[0]!;
    switch (n.op) {
      case 'conv2d':
      case 'depthwiseConv2d': {
        const xin = layout(x, true);
        const [h, w, c] = spatialIn(n) as [number, number, number];
        const [kh, kw] = n.kernelSize;
        const [ph0, ph1] = n.padding === 'same' ? samePads(h, kh, n.strides[0], n.dilation[0]) : [0, 0];
        const [pw0, pw1] = n.padding === 'same' ? samePads(w, kw, n.strides[1], n.dilation[1]) : [0, 0];
        const attrs = {
          kernel_shape: [kh, kw],
          strides: [...n.strides],
          dilations: [...n.dilation],
          pads: [ph0, pw0, ph1, pw1],
          group: n.op === 'depthwiseConv2d' ? c : 1,
        };
        nodes.push(node('Conv', n.name, [xin.name, ...weightInputs(n)], [n.name], attrs));
        return activate({ name: n.name, rank: 4, nchw: true }, n.activation, n.name);
      }
      case 'dense': {
        if (x.rank !== 2) throw new ExportError(`dense layer ${n.name} reads a rank-${x.rank} tensor; only [batch, features] inputs are exported to ONNX`, 'unsupported', { tensor: n.name, format: 'onnx' });
        nodes.push(node('Gemm', n.name, [x.name, ...weightInputs(n)], [n.name]));
        return activate({ name: n.name, rank: 2, nchw: false }, n.activation, n.name);
      }
      case 'batchNorm': {
        const xin = layout(x, true);
        const ch = n.weights.movingMean.values.length;
        const p = (k: string) => `${n.name}/${k}`;
        inits.push(
          floats(p('gamma'), [ch], n.weights.gamma?.values ?? new Float32Array(ch).fill(1)),
          floats(p('beta'), [ch], n.weights.beta?.values ?? new Float32Array(ch)),
          floats(p('moving_mean'), [ch], n.weights.movingMean.values),
          floats(p('moving_variance'), [ch], n.weights.movingVariance.values),
        );
        if (xin.rank !== 4) throw new ExportError(`batch normalization ${n.name} on a rank-${xin.rank} tensor is not exported to ONNX`, 'unsupported', { tensor: n.name, format: 'onnx' });
        nodes.push(node('BatchNormalization', n.name, [xin.name, p('gamma'), p('beta'), p('moving_mean'), p('moving_variance')], [n.name], { epsilon: { float: n.epsilon } }));
        return { name: n.name, rank: 4, nchw: true };
      }
      case 'activation':
        return activate(x, n.activation, n.name, n.alpha);
      case 'maxPool2d':
      case 'avgPool2d': {
        const xin = layout(x, true);
        const [h, w] = spatialIn(n) as [number, number];
        const [ph0, ph1] = n.padding === 'same' ? samePads(h, n.poolSize[0], n.strides[0]) : [0, 0];
        const [pw0, pw1] = n.padding === 'same' ? samePads(w, n.poolSize[1], n.strides[1]) : [0, 0];
        const attrs: Record<string, number[] | number> = { kernel_shape: [...n.poolSize], strides: [...n.strides], pads: [ph0, pw0, ph1, pw1] };
        // TF's average pool divides by the number of real pixels: count_include_pad 0 (the default).
        nodes.push(node(n.op === 'maxPool2d' ? 'MaxPool' : 'AveragePool', n.name, [xin.name], [n.name], attrs));
        return { name: n.name, rank: 4, nchw: true };
      }
      case 'globalAvgPool2d':
      case 'globalMaxPool2d':
      case 'zeroPad2d':
      case 'crop2d':
      case 'upSample2d':
      case 'multiply':
      case 'affine':
        return emitMobileOp(ctx, n, args);
      case 'flatten': {
        const xin = layout(x, false);
        nodes.push(node('Flatten', n.name, [xin.name], [n.name], { axis: 1 }));
        return { name: n.name, rank: 2, nchw: false };
      }
      case 'reshape': {
        const xin = layout(x, false);
        const shapeName = `${n.name}/shape`;
        inits.push(int64s(shapeName, [-1, ...n.outputShape]));
        nodes.push(node('Reshape', n.name, [xin.name, shapeName], [n.name]));
        return { name: n.name, rank: n.outputShape.length + 1, nchw: false };
      }
      case 'dropout':
        return x;
      case 'add': {
        const nchw = x.rank === 4 ? x.nchw : false;
        let acc = layout(x, nchw);
        args.slice(1).forEach((t, i) => {
          const out = i === args.length - 2 ? n.name : uniq(`${n.name}/partial`);
          nodes.push(node('Add', out, [acc.name, layout(t, nchw).name], [out]));
          acc = { name: out, rank: acc.rank, nchw };
        });
        return acc;
      }
      case 'concat': {
        const rank = x.rank;
        const kerasAxis = n.axis < 0 ? n.axis + rank : n.axis;
        const nchw = rank === 4;
        const axis = nchw ? [0, 2, 3, 1][kerasAxis]! : kerasAxis;
        nodes.push(node('Concat', n.name, args.map((a) => layout(a, nchw).name), [n.name], { axis }));
        return { name: n.name, rank, nchw };
      }
      case 'layer':
        throw new ExportError(`layer ${n.name} (${n.className}) is not modelled by the studio and has no ONNX mapping`, 'unsupported', { tensor: n.name, format: 'onnx' });
    }
  };

  const inNode = inputNode(graph);
  const inShape = inNode.outputShape;
  let inputValue: OnnxValue = { name: ONNX_INPUT, rank: inShape.length + 1, nchw: false };
  for (const n of graph.nodes) {
    let v: OnnxValue;
    if (n.op === 'input') v = inputValue;
    else {
      const args = n.inputs.map((i) => {
        const a = values.get(i);
        if (!a) throw new ExportError(`layer ${n.name} reads ${i}, which is not computed before it`, 'unsupported', { tensor: n.name, format: 'onnx' });
        return a;
      });
      v = emit(n, args);
    }
    const a = actAt.get(n.name);
    if (a) v = qdq(v, a.name);
    values.set(n.name, v);
  }
  const last = values.get(graph.output)!;
  const outValue = layout(last, false);
  nodes.push(node('Identity', ONNX_OUTPUT, [outValue.name], [ONNX_OUTPUT]));
  inputValue = values.get(inNode.name)!;

  const outShape = byName.get(graph.output)!.outputShape;
  const valueInfo = (name: string, shape: number[]) =>
    onnx.ValueInfoProto.create({
      name,
      type: onnx.TypeProto.create({
        tensorType: onnx.TypeProto.Tensor.create({
          elemType: DT.FLOAT,
          shape: onnx.TensorShapeProto.create({ dim: [{ dimParam: 'batch' }, ...shape.map((d) => ({ dimValue: d }))] }),
        }),
      }),
    });
  const g = onnx.GraphProto.create({
    name: graph.name,
    node: nodes,
    initializer: inits,
    input: [valueInfo(ONNX_INPUT, inShape)],
    output: [valueInfo(ONNX_OUTPUT, outShape)],
  });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    producerName: 'Quantization Calibration Studio',
    producerVersion: '0.1.0',
    domain: 'studio.quantization',
    modelVersion: 1,
    docString: `${graph.name}, quantized (QDQ). Input: float NHWC; output: float.`,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    graph: g,
    metadataProps: Object.entries(input.metadata ?? {}).map(([key, value]) => ({ key, value })),
  });
  return { model, values };
}

export function encodeOnnx(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

export function decodeOnnx(bytes: Uint8Array): ModelProto {
  return onnx.ModelProto.decode(bytes);
}

/** Used by the audit: weighted layers and whether each has a kernel quantizer. */
export function weightedLayers(graph: Graph): WeightedNode[] {
  return graph.nodes.filter(isWeighted);
}
