/**
 * Dense and BatchNormalization in the step graph.
 *
 * Dense's forward is the shared lowering (engine/onnx/ops/dense.ts: the
 * last axis of any rank folded to [rows, in], one Gemm, the activation,
 * unfolded); its gradients are two Gemms and a column sum.
 *
 * BatchNormalization in training is not the inference op: it normalises the
 * channel axis with the batch's statistics (biased variance, as tf.moments;
 * the moving statistics updated as Keras does: moving·momentum +
 * batch·(1 − momentum)) until QAT's freeze step, then with the moving
 * statistics, so the forward is this rule's own: TF.js's computation
 * rearranged to read and write the large tensors as few times as possible
 * (the same numbers to float32 rounding). The centred input is the one
 * value kept for the backward pass; the normalisation and affine map are one
 * per-channel scale and shift. The batch-statistics gradient is the closed
 * form dx = inv·γ·(dy − mean(dy) − x̂·mean(dy·x̂)), as per-channel
 * coefficients of dy and of the centred input; the factor inv·γ may travel
 * to the convolution before (StepContext's ScaledGrad), which folds it into
 * its weights instead of a pass over dx.
 */
import { DT } from '../../../onnx/proto.js';
import type { BatchNormNode, DenseNode } from '../../../graph/types.js';
import { onnxValue } from '../../../onnx/builder.js';
import { lowerDense } from '../../../onnx/ops/index.js';
import { asOnnx, canonical, channelAxis, channelBroadcast, fromKeras, toKeras, unsupported, type OpStep, type StepContext, type Value } from '../step-context.js';
import { activationGrad } from './activation.js';

export function dense(node: DenseNode, [x]: Value[], ctx: StepContext): OpStep {
  const b = ctx.b;
  const inShape = x!.shape;
  const features = inShape[inShape.length - 1]!;
  if (node.weights.kernel.shape[0] !== features) throw unsupported(node, `has a kernel for ${node.weights.kernel.shape[0]} inputs but gets ${features}`);
  const flat = inShape.length === 1;
  const { kernel, back: kernelBack } = ctx.kernel(node);
  const bias = ctx.weight('bias');
  const activation = ctx.logitsHere ? 'linear' : node.activation;
  const f = lowerDense(b, node, asOnnx(x!), { kernel, ...(bias ? { bias } : {}) }, activation);
  const actGrad = activationGrad(b, node, activation, onnxValue(f.pre, [node.units], false), f.act);
  const value = canonical(b, f.value);
  const outShape = value.shape;
  return {
    value,
    back: (dy) => {
      const dRows = flat ? dy : b.op('Reshape', [toKeras(b, dy, outShape), b.i64([-1, node.units])]);
      const dPre = actGrad(dRows);
      if (bias) ctx.addGrad('bias', b.op('ReduceSum', [dPre, b.i64([0])], { keepdims: 0 }));
      kernelBack(b.op('Gemm', [f.rows, dPre], { transA: 1 }));
      if (!ctx.needDx[0]) return [null];
      const dx = b.op('Gemm', [dPre, kernel], { transB: 1 });
      return [flat ? dx : fromKeras(b, b.op('Reshape', [dx, b.i64([-1, ...inShape])]), inShape)];
    },
  };
}

export function batchNorm(node: BatchNormNode, [x]: Value[], ctx: StepContext): OpStep {
  const b = ctx.b;
  const shape = x!.shape;
  const rank = shape.length + 1;
  const channels = shape[shape.length - 1]!;
  for (const w of ['gamma', 'beta', 'movingMean'] as const) {
    const data = node.weights[w];
    if (data && data.values.length !== channels) throw unsupported(node, `has ${data.values.length} ${w} values for ${channels} channels (only the last axis is normalised)`);
  }
  const cAxis = channelAxis(shape);
  const axes = Array.from({ length: rank }, (_, i) => i).filter((i) => i !== cAxis);
  const bshape = b.i64(channelBroadcast(shape));
  const flat = b.i64([channels]);
  const asChannels = (t: string) => b.op('Reshape', [t, bshape]);
  const asVector = (t: string) => b.op('Reshape', [t, flat]);
  const gamma = ctx.weight('gamma');
  const beta = ctx.weight('beta');
  const eps = b.f32(node.epsilon);
  const frozen = ctx.freezeBatchNorm;
  // Values per channel (batch statistics): the element count M of the statistics (N·H·W), as a float.
  const count = frozen ? '' : b.op('Div', [b.op('Cast', [b.op('Size', [x!.name])], { to: DT.FLOAT }), b.f32(channels)]);
  let centered: string;
  let inv: string;
  if (frozen) {
    inv = b.op('Reciprocal', [b.op('Sqrt', [b.op('Add', [ctx.weight('movingVariance')!, eps])])]);
    centered = b.op('Sub', [x!.name, asChannels(ctx.weight('movingMean')!)]);
  } else {
    const mean = b.op('ReduceMean', [x!.name], { axes, keepdims: 1 });
    centered = b.op('Sub', [x!.name, mean]);
    // The biased variance Σ(x − mean)²/M, the squares written out and summed: onnxruntime's ReduceSumSquare only
    // reads but is 4x slower than ReduceSum per element (measured: the MobileNetV2 0.35 step 2–4 % faster this way).
    // (Summing H·W first, then the batch, is a little faster but rounds the deep nets' first BatchNorm gradients
    // further from TF.js's.)
    const variance = asVector(b.op('Div', [b.op('ReduceSum', [b.op('Mul', [centered, centered]), b.i64(axes)], { keepdims: 1 }), count]));
    inv = b.op('Reciprocal', [b.op('Sqrt', [b.op('Add', [variance, eps])])]);
    const m = node.momentum;
    for (const [weight, batch] of [['movingMean', asVector(mean)], ['movingVariance', variance]] as const) {
      ctx.moving(weight, b.op('Add', [b.op('Mul', [ctx.weight(weight)!, b.f32(m)]), b.op('Mul', [batch, b.f32(1 - m)])]));
    }
  }
  // y = (x − mean)·inv·γ + β as one pass: per-channel scale γ·inv and shift β (ONNX
  // BatchNormalization with mean 0, variance 1, ε 0 is exactly c·scale + β) where the
  // channel axis is axis 1, else a Mul and an Add.
  const scale = gamma ? b.op('Mul', [gamma, inv]) : inv;
  const shift = beta ?? b.f32(new Array<number>(channels).fill(0));
  const zeros = b.f32(new Array<number>(channels).fill(0));
  const ones = b.f32(new Array<number>(channels).fill(1));
  const affine = (t: string, sc: string, sh: string) =>
    cAxis === 1 ? b.op('BatchNormalization', [t, sc, sh, zeros, ones], { epsilon: { float: 0 } }) : b.op('Add', [b.op('Mul', [t, asChannels(sc)]), asChannels(sh)]);
  const y = affine(centered, scale, shift);
  // The weight gradients, and dx = scale·t per channel with t = dy − Σdy/M − (x − mean)·inv²·Σdy·(x − mean)/M (batch
  // statistics; t = dy when frozen): as t, a per-channel affine map of (x − mean) added to dy.
  const backT = (dy: string): string | null => {
    const sumAxes = b.i64(axes);
    // Σdy and Σdy·(x − mean) per channel: β's and γ's gradients (Σdy·x̂ = inv·Σdy·(x − mean)) and the batch-statistics terms.
    const sumDy = b.op('ReduceSum', [dy, sumAxes], { keepdims: 0 });
    const sumDyC = gamma || !frozen ? b.op('ReduceSum', [b.op('Mul', [dy, centered]), sumAxes], { keepdims: 0 }) : null;
    if (gamma) ctx.addGrad('gamma', b.op('Mul', [sumDyC!, inv]));
    if (beta) ctx.addGrad('beta', sumDy);
    if (!ctx.needDx[0]) return null;
    if (frozen) return dy;
    const slope = b.op('Neg', [b.op('Div', [b.op('Mul', [b.op('Mul', [inv, inv]), sumDyC!]), count])]);
    const offset = b.op('Neg', [b.op('Div', [sumDy, count])]);
    return b.op('Add', [dy, affine(centered, slope, offset)]);
  };
  return {
    value: { name: y, shape: [...shape] },
    back: (dy) => {
      const t = backT(dy);
      return [t === null ? null : b.op('Mul', [t, asChannels(scale)])];
    },
    // A convolution before this BatchNorm folds scale into its small tensors (ops/conv.ts): a pass fewer.
    backScaled: (dy) => ({ t: backT(dy)!, scale }),
  };
}
