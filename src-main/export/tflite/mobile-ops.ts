/**
 * The TFLite ops of the keras.applications layer set and of standalone
 * activations, written by build.ts' emit for the graph lowered for TFLite
 * (lower.ts):
 *
 *  - zeroPad2d → PAD (int8 pads with the zero point: the real value 0),
 *    crop2d → SLICE, upSample2d → RESIZE_NEAREST_NEIGHBOR (align_corners and
 *    half_pixel_centers false; refused unless TFLite's source index, in the
 *    reference kernel's float32 form and the optimized kernel's 16.16 fixed
 *    point, is floor(i / size) at every output pixel, the IR's nearest
 *    up-sampling), globalMaxPool2d → REDUCE_MAX, globalAvgPool2d with keepdims
 *    → MEAN: each keeps its input's scale and zero point (the plan passes the
 *    range through; PAD, SLICE and REDUCE_MAX require it, and MEAN keeps it);
 *  - multiply → MUL (a lower-rank operand first RESHAPEd with unit axes after
 *    the batch axis, as Keras broadcasts), fused ReLU / ReLU6 when the plan fuses one;
 *  - a lowered affine → MUL or ADD with its int8 constant `<node>/multiplier`
 *    or `<node>/addend` ([channels] or [1], broadcast on the last axis);
 *  - activations: RELU, RELU6, SOFTMAX (β 1), QUANTIZE (a linear activation
 *    with its own range requantizes), LOGISTIC and TANH (on the fixed grids
 *    lower.ts gives their outputs), HARD_SWISH, LEAKY_RELU (alpha).
 */
import type { Activation, AffineNode, Graph, GraphNode } from '../../engine/graph/types.js';
import { integerQParams, type QParams } from '../../engine/quant/qparams.js';
import type { QuantPlan } from '../../engine/transform/plan.js';
import { ExportError } from '../errors.js';
import { quantizedConstant } from '../../engine/targets/tflite/lower.js';
import { quantizerAt } from '../../engine/targets/tflite/quant.js';
import {
  ActivationFunctionType,
  AddOptionsT,
  BuiltinOperator,
  BuiltinOptions,
  HardSwishOptionsT,
  LeakyReluOptionsT,
  MulOptionsT,
  OperatorT,
  PadOptionsT,
  QuantizationParametersT,
  QuantizeOptionsT,
  ReducerOptionsT,
  ResizeNearestNeighborOptionsT,
  SliceOptionsT,
  SoftmaxOptionsT,
  TensorType,
  type TensorT,
} from './schema/generated/schema_generated.js';

/** What build.ts shares with the op writers here. */
export interface EmitContext {
  /** The lowered graph, plan and qparams (lower.ts). */
  graph: Graph;
  plan: QuantPlan;
  qparams: ReadonlyMap<string, QParams>;
  tensors: TensorT[];
  op(code: BuiltinOperator, inputs: number[], outputs: number[], type: BuiltinOptions, options: OperatorT['builtinOptions']): void;
  tensor(name: string, shape: number[], type: TensorType, q?: QuantizationParametersT | null, data?: Uint8Array): number;
  int32s(name: string, shape: number[], values: number[]): number;
  /** The int8 tensor of an activation quantizer, shaped as node `n` (with the batch axis). */
  actTensor(quantizer: string, n: GraphNode, shape?: number[]): number;
  /** An int8 tensor on tensor `from`'s grid. */
  sameGrid(name: string, shape: number[], from: number): number;
  reshape(name: string, x: number, shape: number[], from: number): number;
  withBatch(n: GraphNode): number[];
  /** The quantizer closing the op headed by `n`, and the activations fused into it. */
  closing(n: GraphNode): { quantizer: string; fused: Activation[] };
  fusedCode(name: string, ...acts: Activation[]): ActivationFunctionType;
}

export type MobileOpNode = Extract<GraphNode, { op: 'activation' | 'zeroPad2d' | 'crop2d' | 'upSample2d' | 'globalMaxPool2d' | 'globalAvgPool2d' | 'multiply' | 'affine' }>;

/** Nodes written here (a global average pool without keepdims stays build.ts' AVERAGE_POOL_2D + RESHAPE). */
export function isMobileOp(n: GraphNode): boolean {
  switch (n.op) {
    case 'activation':
    case 'zeroPad2d':
    case 'crop2d':
    case 'upSample2d':
    case 'globalMaxPool2d':
    case 'multiply':
    case 'affine':
      return true;
    case 'globalAvgPool2d':
      return !!n.keepdims;
    default:
      return false;
  }
}

const unsupported = (tensor: string, message: string) => new ExportError(message, 'unsupported', { tensor, format: 'tflite' });

/**
 * Whether TFLite's nearest-neighbour resize from `inSize` to `outSize`
 * (align_corners and half_pixel_centers false) reads input pixel
 * floor(i / factor) for every output pixel i, in both of its kernels:
 * reference_ops' min(floor(f32(i · f32(in / out))), in − 1) and
 * optimized_ops' (i · ((in << 16) / out + 1)) >> 16.
 */
export function resizeMatchesNearest(inSize: number, outSize: number, factor: number): boolean {
  const scale = Math.fround(inSize / outSize);
  const fixed = Math.floor((inSize * 65536) / outSize) + 1;
  for (let i = 0; i < outSize; i++) {
    const want = Math.floor(i / factor);
    if (Math.min(Math.floor(Math.fround(i * scale)), inSize - 1) !== want) return false;
    if (Math.min(Math.floor((i * fixed) / 65536), inSize - 1) !== want) return false;
  }
  return true;
}

export function emitMobileOp(ctx: EmitContext, n: MobileOpNode, args: number[]): number {
  const x = args[0]!;
  const shapeOf = (t: number) => ctx.tensors[t]!.shape;
  switch (n.op) {
    case 'activation':
      return activation(ctx, n, x);
    case 'zeroPad2d': {
      const [[top, bottom], [left, right]] = n.padding;
      const pads = ctx.int32s(`${n.name}/paddings`, [4, 2], [0, 0, top, bottom, left, right, 0, 0]);
      const out = ctx.sameGrid(n.name, ctx.withBatch(n), x);
      ctx.op(BuiltinOperator.PAD, [x, pads], [out], BuiltinOptions.PadOptions, new PadOptionsT());
      return out;
    }
    case 'crop2d': {
      const [[top], [left]] = n.cropping;
      const size = ctx.withBatch(n);
      const begin = ctx.int32s(`${n.name}/begin`, [4], [0, top, left, 0]);
      const sizeT = ctx.int32s(`${n.name}/size`, [4], size);
      const out = ctx.sameGrid(n.name, size, x);
      ctx.op(BuiltinOperator.SLICE, [x, begin, sizeT], [out], BuiltinOptions.SliceOptions, new SliceOptionsT());
      return out;
    }
    case 'upSample2d': {
      const [, inH, inW] = shapeOf(x) as [number, number, number];
      const [oh, ow] = n.outputShape as [number, number];
      if (!resizeMatchesNearest(inH, oh, n.size[0]) || !resizeMatchesNearest(inW, ow, n.size[1])) {
        throw unsupported(n.name, `up-sampling ${n.name} from ${inH}×${inW} by ${n.size.join('×')}: TFLite's RESIZE_NEAREST_NEIGHBOR would not read pixel floor(i / size) everywhere`);
      }
      const size = ctx.int32s(`${n.name}/size`, [2], [oh, ow]);
      const out = ctx.sameGrid(n.name, ctx.withBatch(n), x);
      ctx.op(BuiltinOperator.RESIZE_NEAREST_NEIGHBOR, [x, size], [out], BuiltinOptions.ResizeNearestNeighborOptions, new ResizeNearestNeighborOptionsT(false, false));
      return out;
    }
    case 'globalMaxPool2d':
    case 'globalAvgPool2d': {
      const axis = ctx.int32s(`${n.name}/axis`, [2], [1, 2]);
      const out = ctx.sameGrid(n.name, ctx.withBatch(n), x);
      const code = n.op === 'globalMaxPool2d' ? BuiltinOperator.REDUCE_MAX : BuiltinOperator.MEAN;
      ctx.op(code, [x, axis], [out], BuiltinOptions.ReducerOptions, new ReducerOptionsT(!!n.keepdims));
      return out;
    }
    case 'multiply': {
      const rank = Math.max(...args.map((a) => shapeOf(a).length));
      // Keras broadcasting: unit axes after the batch axis (TFLite's MUL aligns shapes on the right).
      const same = args.map((a, i) => {
        const s = shapeOf(a);
        if (s.length === rank) return a;
        return ctx.reshape(`${n.name}/expand${i}`, a, [s[0]!, ...new Array<number>(rank - s.length).fill(1), ...s.slice(1)], a);
      });
      const c = ctx.closing(n);
      const out = ctx.actTensor(c.quantizer, n);
      ctx.op(BuiltinOperator.MUL, same, [out], BuiltinOptions.MulOptions, new MulOptionsT(ctx.fusedCode(n.name, ...c.fused)));
      return out;
    }
    case 'affine':
      return affine(ctx, n, x);
  }
}

/** A lowered affine: MUL by or ADD of its int8 constant. */
function affine(ctx: EmitContext, n: AffineNode, x: number): number {
  const mul = ctx.qparams.get(`${n.name}/multiplier`);
  const add = ctx.qparams.get(`${n.name}/addend`);
  const role = mul && n.offset.every((o) => o === 0) ? 'multiplier' : add && n.scale.every((s) => s === 1) ? 'addend' : null;
  if (!role) throw unsupported(n.name, `affine ${n.name} was not lowered to a MUL or ADD with a constant`);
  const qp = (role === 'multiplier' ? mul : add)!;
  const values = role === 'multiplier' ? n.scale : n.offset;
  const { ints } = quantizedConstant(values, qp);
  const iq = integerQParams(qp, 'signed');
  const constant = ctx.tensor(
    `${n.name}/${role}`,
    [values.length],
    TensorType.INT8,
    new QuantizationParametersT([qp.nudgedMin[0]!], [qp.nudgedMax[0]!], [iq.scale[0]!], [BigInt(iq.zeroPoint[0]!)]),
    new Uint8Array(ints.buffer),
  );
  const c = ctx.closing(n);
  const out = ctx.actTensor(c.quantizer, n);
  const fused = ctx.fusedCode(n.name, ...c.fused);
  if (role === 'multiplier') ctx.op(BuiltinOperator.MUL, [x, constant], [out], BuiltinOptions.MulOptions, new MulOptionsT(fused));
  else ctx.op(BuiltinOperator.ADD, [x, constant], [out], BuiltinOptions.AddOptions, new AddOptionsT(fused));
  return out;
}

function activation(ctx: EmitContext, n: Extract<GraphNode, { op: 'activation' }>, x: number): number {
  const q = quantizerAt(ctx.plan, n.name);
  if (!q) throw unsupported(n.name, `activation ${n.name} has no quantizer in the run's plan`);
  const out = ctx.actTensor(q.name, n);
  const unary = (code: BuiltinOperator, type = BuiltinOptions.NONE, options: OperatorT['builtinOptions'] = null) => ctx.op(code, [x], [out], type, options);
  switch (n.activation) {
    case 'softmax':
      unary(BuiltinOperator.SOFTMAX, BuiltinOptions.SoftmaxOptions, new SoftmaxOptionsT(1));
      break;
    case 'relu':
      unary(BuiltinOperator.RELU);
      break;
    case 'relu6':
      unary(BuiltinOperator.RELU6);
      break;
    // A linear activation with its own range: an int8 → int8 QUANTIZE requantizes.
    case 'linear':
      unary(BuiltinOperator.QUANTIZE, BuiltinOptions.QuantizeOptions, new QuantizeOptionsT());
      break;
    case 'sigmoid':
      unary(BuiltinOperator.LOGISTIC);
      break;
    case 'tanh':
      unary(BuiltinOperator.TANH);
      break;
    case 'hard_swish':
      unary(BuiltinOperator.HARD_SWISH, BuiltinOptions.HardSwishOptions, new HardSwishOptionsT());
      break;
    case 'leaky_relu':
      if (n.alpha === undefined) throw unsupported(n.name, `leaky ReLU ${n.name} has no alpha`);
      unary(BuiltinOperator.LEAKY_RELU, BuiltinOptions.LeakyReluOptions, new LeakyReluOptionsT(n.alpha));
      break;
    case 'swish':
    case 'hard_sigmoid':
    case 'hard_sigmoid_keras2':
      throw unsupported(n.name, `activation ${n.name} (${n.activation}) was not lowered to TFLite ops`);
  }
  return out;
}
