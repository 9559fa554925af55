/**
 * A quantized run as a full-integer TensorFlow Lite model, built with the
 * flatbuffers object API generated from the official schema (schema/).
 *
 * Layout: TFLite is NHWC like Keras, so no transposes; batch 1 (the
 * interpreter's default shape; the verification runs a copy with a larger
 * batch, batch.ts).
 * Float input `float_input` → QUANTIZE → int8 … → DEQUANTIZE → float output
 * `float_output`; with io 'int8' the model takes and gives the integer
 * tensors (int8, or int16 in 16x8).
 *
 * Tensors (TF's unsigned-domain qparams moved to signed by integerQParams):
 *  - activations: int8, scale and zero point − 128 of the run's quantizer,
 *    named after it (`input`, `conv2d/output`…); pass-through ops (pools,
 *    reshape) keep their input's qparams, as TFLite's int8 kernels require.
 *    A run whose activations are all 16-bit symmetric is written in TFLite's
 *    16x8 mode (int16.ts): int16 activations with zero point 0;
 *  - kernels: int8 with zero point 0 (TFLite's int8 kernels need symmetric
 *    weights), per-channel on quantized_dimension 0 (conv OHWI, FC [out,in])
 *    or 3 (depthwise [1,kh,kw,c]), or one scale per tensor;
 *  - biases: int32 with scale f32(s_in·s_w[c]) and zero point 0 (a zero bias
 *    when the layer has none: the int8 kernels take one); int64 in 16x8.
 * Ops: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED (fused NONE/RELU/RELU6),
 * MAX_POOL_2D, AVERAGE_POOL_2D (also the global pool, then RESHAPE), RESHAPE,
 * ADD, CONCATENATION, SOFTMAX, RELU, RELU6, QUANTIZE, DEQUANTIZE, and the
 * keras.applications ops (mobile-ops.ts): PAD, SLICE, RESIZE_NEAREST_NEIGHBOR,
 * MEAN, REDUCE_MAX, MUL, LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU, and MUL / ADD
 * with int8 constants. The graph written is the run's graph lowered for
 * TFLite (lower.ts: swish as LOGISTIC + MUL, hard sigmoids and affines as
 * MUL / ADD with constants, the grids TFLite imposes), which the audit, the
 * simulation and the integer reference use too.
 *
 * The model input is the input quantizer's tensor: when the model starts with
 * preprocessing (Rescaling / Normalization folded into the input quantizer by
 * the plan), the file takes the preprocessed tensor, as a model converted with
 * its preprocessing outside does (`float_input` is then the preprocessed
 * float tensor; the `studio` metadata lists the preprocessing).
 *
 * Anything else, a layer kept float, or a quantizer the int8 kernels cannot
 * take, throws an ExportError naming the layer or tensor.
 */
import * as flatbuffers from 'flatbuffers';
import type { Activation, Graph, GraphNode, WeightedNode } from '../../engine/graph/types.js';
import { isWeighted } from '../../engine/graph/types.js';
import { ACTIVATIONS_KEPT_IN_LAYER } from '../../engine/graph/fused-activations.js';
import { integerQParams, type QParams } from '../../engine/quant/qparams.js';
import type { QuantPlan } from '../../engine/transform/plan.js';
import { ExportError, lowered } from '../errors.js';
import { inputScaleOf } from '../../engine/integer/biases.js';
import { biasScales, quantizeBias, quantizeToInts } from '../../engine/quant/int-tensors.js';
import { tfliteKernelShape, tfliteQuantizedDimension, toTfliteKernel } from './layout.js';
import { emitMobileOp, isMobileOp, type EmitContext, type MobileOpNode } from './mobile-ops.js';
import { inputQuantizer, quantizerAt, type TfliteQuant } from '../../engine/targets/tflite/quant.js';
import { BuiltinOperatorT } from './builtin-operator.js';
import { activationTypeOf, assert16x8Ops, type TfliteActivationType } from '../../engine/targets/tflite/int16.js';
import { OP_VERSION_16X8 } from './op-versions-16x8.js';
import {
  ActivationFunctionType,
  AddOptionsT,
  Buffer as TflBuffer,
  BufferT,
  BuiltinOperator,
  BuiltinOptions,
  ConcatenationOptionsT,
  Conv2DOptionsT,
  DepthwiseConv2DOptionsT,
  DequantizeOptionsT,
  FullyConnectedOptionsT,
  MetadataT,
  Model,
  ModelT,
  OperatorCodeT,
  OperatorT,
  Padding,
  Pool2DOptionsT,
  QuantizationParametersT,
  QuantizeOptionsT,
  ReshapeOptionsT,
  SoftmaxOptionsT,
  SubGraphT,
  TensorT,
  TensorType,
} from './schema/generated/schema_generated.js';

export const TFLITE_SCHEMA_VERSION = 3;
export const FLOAT_INPUT = 'float_input';
export const FLOAT_OUTPUT = 'float_output';
export type TfliteIo = 'float' | 'int8';

export interface TfliteBuildInput {
  /** The activation and weight qparams as stored, and the graph lowered for TFLite (quant.ts, lower.ts). */
  quant: TfliteQuant;
  io: TfliteIo;
  /** Stored as the `studio` metadata buffer (JSON), with `layers`: each tensor's Keras layer path (tfliteLayerMap). */
  metadata?: Record<string, unknown>;
}

/** Name of the metadata entry holding the studio's JSON. */
export const STUDIO_METADATA = 'studio';

/** Op versions the TFLite converter writes for int8 kernels (the runtime registers each op with a version range). */
const OP_VERSION: Partial<Record<BuiltinOperator, number>> = {
  [BuiltinOperator.CONV_2D]: 3,
  [BuiltinOperator.DEPTHWISE_CONV_2D]: 3,
  [BuiltinOperator.FULLY_CONNECTED]: 4,
  [BuiltinOperator.MAX_POOL_2D]: 2,
  [BuiltinOperator.AVERAGE_POOL_2D]: 2,
  [BuiltinOperator.ADD]: 2,
  [BuiltinOperator.CONCATENATION]: 2,
  [BuiltinOperator.SOFTMAX]: 2,
  [BuiltinOperator.QUANTIZE]: 2,
  [BuiltinOperator.DEQUANTIZE]: 2,
  [BuiltinOperator.RELU]: 2,
  [BuiltinOperator.RELU6]: 2,
  [BuiltinOperator.RESHAPE]: 1,
  [BuiltinOperator.PAD]: 2,
  [BuiltinOperator.SLICE]: 2,
  [BuiltinOperator.RESIZE_NEAREST_NEIGHBOR]: 2,
  [BuiltinOperator.MEAN]: 2,
  [BuiltinOperator.REDUCE_MAX]: 2,
  [BuiltinOperator.MUL]: 2,
  [BuiltinOperator.LOGISTIC]: 2,
  [BuiltinOperator.TANH]: 2,
  [BuiltinOperator.HARD_SWISH]: 1,
  [BuiltinOperator.LEAKY_RELU]: 2,
};

/** Constant bytes, 16-byte aligned as the schema's force_align asks (flatc's TS writer packs vectors unaligned). */
class AlignedBufferT extends BufferT {
  constructor(readonly bytes: Uint8Array) {
    super();
  }

  override pack(builder: flatbuffers.Builder): flatbuffers.Offset {
    builder.startVector(1, this.bytes.length, 16);
    for (let i = this.bytes.length - 1; i >= 0; i--) builder.addInt8(this.bytes[i]!);
    const data = builder.endVector();
    TflBuffer.startBuffer(builder);
    TflBuffer.addData(builder, data);
    return TflBuffer.endBuffer(builder);
  }
}

const unsupported = (tensor: string, message: string) => new ExportError(message, 'unsupported', { tensor, format: 'tflite' });

/** Signed qparams of an activation quantizer; refuses what TFLite's int8 (or, 16x8, int16) kernels cannot hold. */
export function activationGrid(name: string, q: QParams, type: TfliteActivationType = 'int8') {
  const bits = type === 'int16' ? 16 : 8;
  if (q.bits !== bits) throw unsupported(name, `activation ${name} has ${q.bits} bits; this file's activations are ${type}`);
  if (q.narrowRange) throw unsupported(name, `activation ${name} is narrow range; TFLite's ${type} kernels clamp activations to [${-(2 ** (bits - 1))}, ${2 ** (bits - 1) - 1}] and cannot express it`);
  if (q.granularity === 'per-channel') throw unsupported(name, `activation ${name} is per-channel; TFLite activations carry one scale`);
  const iq = integerQParams(q, 'signed');
  if (type === 'int16' && iq.zeroPoint[0] !== 0) throw unsupported(name, `activation ${name} has zero point ${iq.zeroPoint[0]}; TFLite's 16x8 kernels need int16 activations with zero point 0 (symmetric)`);
  return iq;
}

function activationQuantization(name: string, q: QParams, type: TfliteActivationType): QuantizationParametersT {
  const iq = activationGrid(name, q, type);
  return new QuantizationParametersT([q.nudgedMin[0]!], [q.nudgedMax[0]!], [iq.scale[0]!], [BigInt(iq.zeroPoint[0]!)]);
}

export function fusedCode(name: string, ...acts: Activation[]): ActivationFunctionType {
  const real = acts.filter((a) => a !== 'linear');
  if (real.length === 0) return ActivationFunctionType.NONE;
  if (real.length === 1 && real[0] === 'relu') return ActivationFunctionType.RELU;
  if (real.length === 1 && real[0] === 'relu6') return ActivationFunctionType.RELU6;
  throw unsupported(name, `layer ${name}: activation ${real.join(' then ')} cannot be fused into a TFLite op (NONE, RELU, RELU6)`);
}

const padding = (p: 'same' | 'valid') => (p === 'same' ? Padding.SAME : Padding.VALID);

/**
 * Refuses, before anything is computed or written, a graph or plan the
 * builder cannot express: a layer the run keeps float, a layer the studio
 * does not model, an unfolded batch normalization, a Dense / convolution
 * applying an activation TFLite cannot fuse (imported before such activations
 * were split into their own nodes; softmax, the classifier head's, excepted),
 * an Add or Multiply of more than two tensors, a weight of more than 8 bits
 * (a 4-bit kernel is written exactly, as int8 values on its 4-bit grid),
 * activations other than all 8-bit or all 16-bit symmetric (16x8: int16.ts,
 * which also refuses the ops the 16x8 writer does not write).
 */
export function assertExpressible(graph: Graph, plan: QuantPlan): void {
  if (plan.float.length > 0) {
    const f = plan.float[0]!;
    throw unsupported(f.layer, `layer ${f.layer} is kept float by the run (${f.reason}${f.className ? `, ${f.className}` : ''}); a full-integer TFLite model cannot hold a float layer`);
  }
  for (const w of plan.weights) {
    if (w.spec.bits > 8) throw unsupported(w.name, `layer ${w.layer}: weight ${w.name} has ${w.spec.bits} bits; TFLite's int8 writer stores weights of at most 8 bits`);
  }
  // The 16x8 rules live with the TFLite lowering in the engine (targets/tflite/int16.ts); their refusals become ExportErrors here.
  lowered(() => {
    if (activationTypeOf(plan) === 'int16') assert16x8Ops(graph, plan);
  });
  for (const n of graph.nodes) {
    if (n.op === 'layer') throw unsupported(n.name, `layer ${n.name} (${n.className}) is not modelled by the studio and has no TFLite mapping`);
    if (n.op === 'batchNorm') throw unsupported(n.name, `batch normalization ${n.name} was not folded; TFLite full-integer has no int8 batch normalization`);
    if ((n.op === 'add' || n.op === 'multiply') && n.inputs.length !== 2) {
      throw unsupported(n.name, `${n.op} ${n.name} has ${n.inputs.length} inputs; TFLite ${n.op === 'add' ? 'ADD' : 'MUL'} takes two and the run has no range for partial results`);
    }
    if (isWeighted(n) && !ACTIVATIONS_KEPT_IN_LAYER.has(n.activation)) {
      throw unsupported(
        n.name,
        `layer ${n.name} applies ${n.activation} itself; TFLite writes the layer and the ${n.activation} as two ops, so its pre-activation tensor needs a range the run does not have (import the model again: the studio now splits such activations into their own layer)`,
      );
    }
  }
}

/** Builds the TFLite model object. Throws an ExportError naming the layer or tensor the format cannot express. */
export function buildTflite(input: TfliteBuildInput): ModelT {
  const { quant, io } = input;
  const { graph, plan, qparams } = quant.model;
  assertExpressible(graph, plan);
  const type = lowered(() => activationTypeOf(plan));
  const actType = type === 'int16' ? TensorType.INT16 : TensorType.INT8;
  const versions = type === 'int16' ? { ...OP_VERSION, ...OP_VERSION_16X8 } : OP_VERSION;
  const tensors: TensorT[] = [];
  const buffers: BufferT[] = [new BufferT()];
  const operators: OperatorT[] = [];
  const opcodes: OperatorCodeT[] = [];
  const opcodeIndex = new Map<BuiltinOperator, number>();
  const values = new Map<string, number>();
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const weightQ = new Map(plan.weights.map((w) => [w.layer, w]));
  /** Layers computed by another node's op (a fused activation, the input's preprocessing) → that node. */
  const fusedInto = new Map<string, string>();
  for (const a of plan.activations) for (const l of a.layers.slice(1)) fusedInto.set(l, a.layers[0]!);

  const buffer = (bytes: Uint8Array): number => {
    buffers.push(new AlignedBufferT(bytes));
    return buffers.length - 1;
  };
  /** Tensor name → the Keras layer path being written when it was made (a user finds a layer in Netron by it, and back). */
  const layers: Record<string, string> = {};
  let layer = '';
  const tensor = (name: string, shape: number[], type: TensorType, q: QuantizationParametersT | null = null, data?: Uint8Array): number => {
    tensors.push(new TensorT(shape, type, data ? buffer(data) : 0, name, q));
    layers[name] ??= layer;
    return tensors.length - 1;
  };
  const op = (code: BuiltinOperator, inputs: number[], outputs: number[], type: BuiltinOptions, options: OperatorT['builtinOptions']) => {
    let index = opcodeIndex.get(code);
    if (index === undefined) {
      index = opcodes.length;
      opcodes.push(new OperatorCodeT(code < 127 ? code : 127, null, versions[code] ?? 1, code));
      opcodeIndex.set(code, index);
    }
    operators.push(new BuiltinOperatorT(index, inputs, outputs, type, options));
  };
  const withBatch = (n: GraphNode) => [1, ...n.outputShape];
  const quantOf = (tensorIndex: number) => tensors[tensorIndex]!.quantization!;
  const actTensor = (quantizer: string, n: GraphNode, shape = withBatch(n)): number => {
    const q = quant.act.get(quantizer);
    if (!q) throw new ExportError(`no qparams for activation quantizer ${quantizer}`, 'run', { tensor: quantizer, format: 'tflite' });
    return tensor(quantizer, shape, actType, activationQuantization(quantizer, q, type));
  };
  /** A tensor of `from`'s type on its grid (pass-through ops). */
  const sameGrid = (name: string, shape: number[], from: number): number => {
    const q = quantOf(from);
    return tensor(name, shape, tensors[from]!.type, new QuantizationParametersT([...q.min], [...q.max], [...q.scale], [...q.zeroPoint]));
  };
  const int32s = (name: string, shape: number[], values: number[]): number => tensor(name, shape, TensorType.INT32, null, new Uint8Array(Int32Array.from(values).buffer));
  const reshape = (name: string, x: number, shape: number[], from: number): number => {
    const shapeT = int32s(`${name}/shape`, [shape.length], shape);
    const out = sameGrid(name, shape, from);
    op(BuiltinOperator.RESHAPE, [x, shapeT], [out], BuiltinOptions.ReshapeOptions, new ReshapeOptionsT(shape));
    return out;
  };
  const ctx: EmitContext = {
    graph,
    plan,
    qparams,
    tensors,
    op,
    tensor,
    int32s,
    actTensor,
    sameGrid,
    reshape,
    withBatch,
    fusedCode,
    closing: (n) => {
      const closing = plan.activations.find((a) => a.layers[0] === n.name);
      if (!closing) throw unsupported(n.name, `layer ${n.name} has no output quantizer in the run's plan`);
      const fused = closing.layers.slice(1).map((l) => {
        const f = byName.get(l)!;
        if (f.op !== 'activation') throw unsupported(l, `layer ${l} is fused into ${n.name} but is not an activation`);
        return f.activation;
      });
      return { quantizer: closing.name, fused };
    },
  };

  /** Filter and bias tensors of a weighted layer. */
  const weightTensors = (n: WeightedNode): [number, number] => {
    const wq = weightQ.get(n.name);
    if (!wq) throw unsupported(`${n.name}/kernel`, `layer ${n.name} has no weight quantizer in the run's plan; a full-integer TFLite model needs int8 weights`);
    const q = qparams.get(wq.name);
    if (!q) throw new ExportError(`no qparams for weight ${wq.name}`, 'run', { tensor: wq.name, format: 'tflite' });
    if (q.bits > 8) throw unsupported(wq.name, `weight ${wq.name} has ${q.bits} bits; TFLite stores int8 weights`);
    if (wq.axis !== null && wq.axis !== wq.view.length - 1) {
      throw unsupported(wq.name, `weight ${wq.name} is per-channel on axis ${wq.axis} of ${JSON.stringify(wq.view)}, not its output channels; TFLite's per-channel kernels scale output channels`);
    }
    const { ints, iq } = quantizeToInts(n.weights.kernel.values, wq.view, wq.axis ?? undefined, q, 'signed');
    const nonZero = iq.zeroPoint.findIndex((z) => z !== 0);
    if (nonZero >= 0) throw unsupported(wq.name, `weight ${wq.name} has zero point ${iq.zeroPoint[nonZero]} (channel ${nonZero}); TFLite's int8 kernels need symmetric weights (zero point 0)`);
    const perChannel = wq.axis !== null;
    const dim = perChannel ? tfliteQuantizedDimension(n.op) : 0;
    const kernel = Int8Array.from(toTfliteKernel(n, ints, (k) => new Int32Array(k)));
    const filter = tensor(wq.name, tfliteKernelShape(n), TensorType.INT8, new QuantizationParametersT([], [], Array.from(iq.scale), Array.from(iq.zeroPoint, BigInt), undefined, null, dim), new Uint8Array(kernel.buffer));
    // Bias: int32 (16x8: int64), scale f32(s_in·s_w[c]).
    const sIn = inputScaleOf(plan, qparams, wq.input);
    if (!sIn) throw unsupported(`${n.name}/bias`, `layer ${n.name} reads a tensor without a range; its int32 bias has no input scale`);
    const channels = tfliteKernelShape(n)[tfliteQuantizedDimension(n.op)]!;
    const scales = biasScales(sIn.scale[0]!, q.scale, channels);
    const ints32 = n.weights.bias ? quantizeBias(n.weights.bias.values, scales, n.name) : new Int32Array(channels);
    const biasScalesStored = perChannel ? Array.from(scales) : [scales[0]!];
    const biasQ = new QuantizationParametersT([], [], biasScalesStored, biasScalesStored.map(() => 0n));
    const bias =
      type === 'int16'
        ? tensor(`${n.name}/bias`, [channels], TensorType.INT64, biasQ, new Uint8Array(BigInt64Array.from(ints32, (v) => BigInt(v)).buffer))
        : tensor(`${n.name}/bias`, [channels], TensorType.INT32, biasQ, new Uint8Array(ints32.buffer));
    return [filter, bias];
  };

  const emit = (n: Exclude<GraphNode, { op: 'input' }>, args: number[]): number => {
    const x = args[0]!;
    if (isMobileOp(n)) return emitMobileOp(ctx, n as MobileOpNode, args);
    switch (n.op) {
      case 'conv2d':
      case 'depthwiseConv2d':
      case 'dense': {
        const closing = plan.activations.find((a) => a.layers[0] === n.name);
        if (!closing) throw unsupported(n.name, `layer ${n.name} has no output quantizer in the run's plan`);
        const tail = byName.get(closing.at)!;
        const tailAct = tail !== n && tail.op === 'activation' ? tail.activation : 'linear';
        const softmaxHere = quant.softmax?.kind === 'fused' && quant.softmax.layer === n.name;
        const fused = fusedCode(n.name, softmaxHere ? 'linear' : n.activation, tailAct);
        const [filter, bias] = weightTensors(n);
        const out = softmaxHere
          ? tensor(`${n.name}/logits`, withBatch(n), actType, activationQuantization(`${n.name}/logits`, quant.logits!, type))
          : actTensor(closing.name, n);
        if (n.op === 'dense') {
          const rank = tensors[x]!.shape.length;
          if (rank !== 2) throw unsupported(n.name, `dense layer ${n.name} reads a rank-${rank} tensor; only [batch, features] inputs are exported to TFLite`);
          op(BuiltinOperator.FULLY_CONNECTED, [x, filter, bias], [out], BuiltinOptions.FullyConnectedOptions, new FullyConnectedOptionsT(fused));
        } else if (n.op === 'conv2d') {
          op(BuiltinOperator.CONV_2D, [x, filter, bias], [out], BuiltinOptions.Conv2DOptions, new Conv2DOptionsT(padding(n.padding), n.strides[1], n.strides[0], fused, n.dilation[1], n.dilation[0]));
        } else {
          op(BuiltinOperator.DEPTHWISE_CONV_2D, [x, filter, bias], [out], BuiltinOptions.DepthwiseConv2DOptions, new DepthwiseConv2DOptionsT(padding(n.padding), n.strides[1], n.strides[0], n.depthMultiplier, fused, n.dilation[1], n.dilation[0]));
        }
        if (!softmaxHere) return out;
        const probs = actTensor(closing.name, n);
        op(BuiltinOperator.SOFTMAX, [out], [probs], BuiltinOptions.SoftmaxOptions, new SoftmaxOptionsT(1));
        return probs;
      }
      case 'maxPool2d':
      case 'avgPool2d': {
        const out = sameGrid(n.name, withBatch(n), x);
        const code = n.op === 'maxPool2d' ? BuiltinOperator.MAX_POOL_2D : BuiltinOperator.AVERAGE_POOL_2D;
        op(code, [x], [out], BuiltinOptions.Pool2DOptions, new Pool2DOptionsT(padding(n.padding), n.strides[1], n.strides[0], n.poolSize[1], n.poolSize[0]));
        return out;
      }
      case 'globalAvgPool2d': {
        // Without keepdims (with keepdims: MEAN, mobile-ops.ts).
        const [h, w, c] = byName.get(n.inputs[0]!)!.outputShape as [number, number, number];
        const pooled = sameGrid(`${n.name}/pooled`, [1, 1, 1, c], x);
        op(BuiltinOperator.AVERAGE_POOL_2D, [x], [pooled], BuiltinOptions.Pool2DOptions, new Pool2DOptionsT(Padding.VALID, 1, 1, w, h));
        return reshape(n.name, pooled, [1, c], x);
      }
      case 'flatten':
      case 'reshape':
        return reshape(n.name, x, withBatch(n), x);
      case 'dropout':
        return x;
      case 'add': {
        if (args.length !== 2) throw unsupported(n.name, `add ${n.name} has ${args.length} inputs; TFLite ADD takes two and the run has no range for partial sums`);
        const closing = plan.activations.find((a) => a.layers[0] === n.name);
        if (!closing) throw unsupported(n.name, `add ${n.name} has no output quantizer in the run's plan`);
        const tail = byName.get(closing.at)!;
        const out = actTensor(closing.name, n);
        // 16x8: the general int16 ADD (any scales), as the converter writes it; int8 keeps the default.
        op(BuiltinOperator.ADD, args, [out], BuiltinOptions.AddOptions, new AddOptionsT(fusedCode(n.name, tail !== n && tail.op === 'activation' ? tail.activation : 'linear'), type !== 'int16'));
        return out;
      }
      case 'concat': {
        const q = quantizerAt(plan, n.name);
        if (!q) throw unsupported(n.name, `concatenate ${n.name} has no quantizer in the run's plan`);
        const rank = n.outputShape.length + 1;
        const axis = n.axis < 0 ? n.axis + rank : n.axis;
        const out = actTensor(q.name, n);
        op(BuiltinOperator.CONCATENATION, args, [out], BuiltinOptions.ConcatenationOptions, new ConcatenationOptionsT(axis));
        return out;
      }
      case 'batchNorm':
        throw unsupported(n.name, `batch normalization ${n.name} was not folded; TFLite full-integer has no int8 batch normalization`);
      case 'layer':
        throw unsupported(n.name, `layer ${n.name} (${n.className}) is not modelled by the studio and has no TFLite mapping`);
      default:
        throw unsupported(n.name, `layer ${n.name} (${n.op}) is not exported to TFLite yet`);
    }
  };

  const inQ = inputQuantizer(graph, plan);
  if (!inQ) throw unsupported('input', `the model input has no quantizer in the run's plan`);
  let graphInput: number;
  for (const n of graph.nodes) {
    layer = n.name;
    let v: number;
    if (n.op === 'input') {
      const q = actTensor(inQ.name, n);
      if (io === 'float') {
        graphInput = tensor(FLOAT_INPUT, withBatch(n), TensorType.FLOAT32);
        op(BuiltinOperator.QUANTIZE, [graphInput], [q], BuiltinOptions.QuantizeOptions, new QuantizeOptionsT());
      } else graphInput = q;
      v = q;
    } else if (fusedInto.has(n.name)) {
      v = values.get(fusedInto.get(n.name)!)!;
    } else {
      const args = n.inputs.map((i) => {
        const a = values.get(i);
        if (a === undefined) throw unsupported(n.name, `layer ${n.name} reads ${i}, which is not computed before it`);
        return a;
      });
      v = emit(n, args);
    }
    values.set(n.name, v);
  }
  let graphOutput = values.get(graph.output)!;
  layer = graph.output;
  if (io === 'float') {
    const f = tensor(FLOAT_OUTPUT, [...tensors[graphOutput]!.shape], TensorType.FLOAT32);
    op(BuiltinOperator.DEQUANTIZE, [graphOutput], [f], BuiltinOptions.DequantizeOptions, new DequantizeOptionsT());
    graphOutput = f;
  }
  const metadata: MetadataT[] = [];
  if (input.metadata) {
    const index = buffer(new TextEncoder().encode(JSON.stringify({ ...input.metadata, layers })));
    metadata.push(new MetadataT(STUDIO_METADATA, index));
  }
  const subgraph = new SubGraphT(tensors, [graphInput!], [graphOutput], operators, graph.name);
  return new ModelT(TFLITE_SCHEMA_VERSION, opcodes, [subgraph], `${graph.name}, full-integer ${type === 'int16' ? '16x8 (int16 activations, int8 weights)' : 'int8'} (Quantization Calibration Studio); ${io} input/output`, buffers, [], metadata);
}

/** The `layers` map (tensor name → Keras layer path) of a built or decoded model's studio metadata; {} when it has none. */
export function tfliteLayerMap(model: ModelT): Record<string, string> {
  const entry = model.metadata.find((m) => m.name === STUDIO_METADATA);
  const buffer = entry ? model.buffers[entry.buffer] : undefined;
  if (!buffer) return {};
  const bytes = buffer instanceof AlignedBufferT ? buffer.bytes : Uint8Array.from(buffer.data);
  const json = JSON.parse(new TextDecoder().decode(bytes)) as { layers?: Record<string, string> };
  return json.layers ?? {};
}

export function encodeTflite(model: ModelT): Uint8Array {
  const builder = new flatbuffers.Builder(1 << 20);
  Model.finishModelBuffer(builder, model.pack(builder));
  return builder.asUint8Array();
}

/** Reads a file back with the generated reader; throws if it is not a TFLite flatbuffer. */
export function decodeTflite(bytes: Uint8Array): ModelT {
  const bb = new flatbuffers.ByteBuffer(bytes);
  if (!Model.bufferHasIdentifier(bb)) throw new Error('no TFL3 file identifier');
  return Model.getRootAsModel(bb).unpack();
}
