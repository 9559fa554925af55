/**
 * The ONNX lowering (opset 13) of the ops keras.applications' mobile models
 * add: padding, cropping, nearest up-sampling, global pools (with keepdims),
 * Multiply, affine (Rescaling / Normalization), and the activations beyond
 * ReLU / sigmoid / tanh / softmax. build.ts' emit hands these nodes here;
 * image tensors arrive NHWC or NCHW and pads, slices and pools work in NCHW,
 * as the rest of the graph does.
 */
import type { Activation, AffineNode, GraphNode } from '../../engine/graph/types.js';
import type { OnnxValue } from './build.js';
import { floats, int64s, node, type NodeProto, type TensorProto } from '../../engine/onnx/proto.js';

/** What build.ts shares with this file: the graph being built and its NHWC/NCHW switch. */
export interface EmitContext {
  nodes: NodeProto[];
  inits: TensorProto[];
  /** The value in NCHW (true) or NHWC (false), transposing once when needed. */
  layout(v: OnnxValue, nchw: boolean): OnnxValue;
  /** IR output shape (no batch axis) of a graph node. */
  shapeOf(name: string): number[];
}

export type MobileOpNode = Extract<GraphNode, { op: 'globalAvgPool2d' | 'globalMaxPool2d' | 'zeroPad2d' | 'crop2d' | 'upSample2d' | 'multiply' | 'affine' }>;

/** Keras 3's hard_sigmoid relu6(x + 3) / 6 = clip(x/6 + 1/2, 0, 1): ONNX HardSigmoid's alpha and beta. */
const HARD_SIGMOID = { alpha: 1 / 6, beta: 0.5 };
/** Keras 2's (and tfjs's) hard_sigmoid clip(0.2·x + 0.5, 0, 1). */
const HARD_SIGMOID_KERAS2 = { alpha: 0.2, beta: 0.5 };

/**
 * ONNX nodes of the activations build.ts' own switch does not lower. ONNX
 * HardSwish needs opset 14, so hard_swish is x·HardSigmoid(1/6, 1/2)(x),
 * which is its definition; swish is x·Sigmoid(x).
 */
export function activationNodes(ctx: EmitContext, v: OnnxValue, act: Activation, prefix: string, alpha?: number): OnnxValue {
  const out = (op: string) => `${prefix}/${op}`;
  const hardSigmoid = (p: { alpha: number; beta: number }) => {
    ctx.nodes.push(node('HardSigmoid', out('hard_sigmoid'), [v.name], [out('hard_sigmoid')], { alpha: { float: p.alpha }, beta: { float: p.beta } }));
    return out('hard_sigmoid');
  };
  const times = (gate: string, op: string) => {
    ctx.nodes.push(node('Mul', out(op), [v.name, gate], [out(op)]));
    return { ...v, name: out(op) };
  };
  switch (act) {
    case 'swish':
      ctx.nodes.push(node('Sigmoid', out('sigmoid'), [v.name], [out('sigmoid')]));
      return times(out('sigmoid'), 'swish');
    case 'hard_sigmoid':
      return { ...v, name: hardSigmoid(HARD_SIGMOID) };
    case 'hard_sigmoid_keras2':
      return { ...v, name: hardSigmoid(HARD_SIGMOID_KERAS2) };
    case 'hard_swish':
      return times(hardSigmoid(HARD_SIGMOID), 'hard_swish');
    case 'leaky_relu':
      if (alpha === undefined) throw new Error(`${prefix}: leaky_relu without its alpha`);
      ctx.nodes.push(node('LeakyRelu', out('leaky_relu'), [v.name], [out('leaky_relu')], { alpha: { float: alpha } }));
      return { ...v, name: out('leaky_relu') };
    default:
      throw new Error(`${prefix}: activation ${act} is lowered by build.ts`);
  }
}

export function emitMobileOp(ctx: EmitContext, n: MobileOpNode, args: OnnxValue[]): OnnxValue {
  const x = args[0]!;
  const { nodes, inits } = ctx;
  switch (n.op) {
    case 'globalAvgPool2d':
    case 'globalMaxPool2d': {
      const xin = ctx.layout(x, true);
      const pooled = n.keepdims ? n.name : `${n.name}/pooled`;
      nodes.push(node(n.op === 'globalAvgPool2d' ? 'GlobalAveragePool' : 'GlobalMaxPool', pooled, [xin.name], [pooled]));
      if (n.keepdims) return { name: n.name, rank: 4, nchw: true };
      nodes.push(node('Flatten', n.name, [pooled], [n.name], { axis: 1 }));
      return { name: n.name, rank: 2, nchw: false };
    }
    case 'zeroPad2d': {
      const xin = ctx.layout(x, true);
      const [[top, bottom], [left, right]] = n.padding;
      const pads = `${n.name}/pads`;
      inits.push(int64s(pads, [0, 0, top, left, 0, 0, bottom, right]));
      // mode 'constant' with no constant_value input pads with 0.
      nodes.push(node('Pad', n.name, [xin.name, pads], [n.name]));
      return { name: n.name, rank: 4, nchw: true };
    }
    case 'crop2d': {
      const xin = ctx.layout(x, true);
      const [h, w] = ctx.shapeOf(n.inputs[0]!) as [number, number];
      const [[top, bottom], [left, right]] = n.cropping;
      const p = (k: string) => `${n.name}/${k}`;
      inits.push(int64s(p('starts'), [top, left]), int64s(p('ends'), [h - bottom, w - right]), int64s(p('axes'), [2, 3]));
      nodes.push(node('Slice', n.name, [xin.name, p('starts'), p('ends'), p('axes')], [n.name]));
      return { name: n.name, rank: 4, nchw: true };
    }
    case 'upSample2d': {
      // Output pixel i reads input pixel floor(i / size): tf.image.resizeNearestNeighbor without
      // half-pixel centres, which tfjs's UpSampling2D calls (TF's half-pixel form agrees for whole factors).
      const xin = ctx.layout(x, true);
      const scales = `${n.name}/scales`;
      inits.push(floats(scales, [4], [1, 1, n.size[0], n.size[1]]));
      nodes.push(node('Resize', n.name, [xin.name, '', scales], [n.name], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }));
      return { name: n.name, rank: 4, nchw: true };
    }
    case 'multiply':
      return multiply(ctx, n, args);
    case 'affine':
      return affine(ctx, n, x);
  }
}

/**
 * Element-wise product with Keras' broadcasting: a lower-rank input first
 * gets unit axes after the batch axis (Reshape [0, 1, …, dims]), then every
 * input takes the first one's layout, where ONNX broadcasting is NumPy's.
 */
function multiply(ctx: EmitContext, n: Extract<GraphNode, { op: 'multiply' }>, args: OnnxValue[]): OnnxValue {
  const rank = Math.max(...args.map((a) => a.rank));
  const same = args.map((a, i) => {
    if (a.rank === rank) return a;
    const shape = ctx.shapeOf(n.inputs[i]!);
    const target = `${n.name}/expand${i}_shape`;
    const name = `${n.name}/expand${i}`;
    ctx.inits.push(int64s(target, [0, ...new Array<number>(rank - a.rank).fill(1), ...shape]));
    ctx.nodes.push(node('Reshape', name, [ctx.layout(a, false).name, target], [name]));
    return { name, rank, nchw: false };
  });
  const lead = args.find((a) => a.rank === rank)!;
  const nchw = rank === 4 && lead.nchw;
  let acc = ctx.layout(same[0]!, nchw);
  same.slice(1).forEach((t, i) => {
    const out = i === same.length - 2 ? n.name : `${n.name}/partial${i}`;
    ctx.nodes.push(node('Mul', out, [acc.name, ctx.layout(t, nchw).name], [out]));
    acc = { name: out, rank, nchw };
  });
  return acc;
}

/** x·scale + offset on the channel axis (axis 1 of an NCHW value, the last otherwise). */
function affine(ctx: EmitContext, n: AffineNode, x: OnnxValue): OnnxValue {
  const channels = n.scale.length;
  const dims = channels === 1 ? [] : x.rank === 4 && x.nchw ? [channels, 1, 1] : [channels];
  const p = (k: string) => `${n.name}/${k}`;
  ctx.inits.push(floats(p('scale'), dims, n.scale), floats(p('offset'), dims, n.offset));
  ctx.nodes.push(node('Mul', p('scaled'), [x.name, p('scale')], [p('scaled')]));
  ctx.nodes.push(node('Add', n.name, [p('scaled'), p('offset')], [n.name]));
  return { ...x, name: n.name };
}
