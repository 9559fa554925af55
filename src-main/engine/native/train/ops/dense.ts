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
 * statistics, op for op as TF.js computes it, so the forward is this rule's
 * own. The batch-statistics gradient is the closed form
 * dx = inv·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)).
 */
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
  const asChannels = (t: string) => b.op('Reshape', [t, bshape]);
  const gamma = ctx.weight('gamma');
  const beta = ctx.weight('beta');
  const eps = b.f32(node.epsilon);
  let xhat: string;
  let inv: string;
  if (ctx.freezeBatchNorm) {
    inv = b.op('Reciprocal', [b.op('Sqrt', [b.op('Add', [asChannels(ctx.weight('movingVariance')!), eps])])]);
    xhat = b.op('Mul', [b.op('Sub', [x!.name, asChannels(ctx.weight('movingMean')!)]), inv]);
  } else {
    const mean = b.op('ReduceMean', [x!.name], { axes, keepdims: 1 });
    const centered = b.op('Sub', [x!.name, mean]);
    const variance = b.op('ReduceMean', [b.op('Mul', [centered, centered])], { axes, keepdims: 1 });
    inv = b.op('Reciprocal', [b.op('Sqrt', [b.op('Add', [variance, eps])])]);
    xhat = b.op('Mul', [centered, inv]);
    const m = node.momentum;
    const flat = b.i64([channels]);
    for (const [weight, batch] of [['movingMean', mean], ['movingVariance', variance]] as const) {
      ctx.moving(weight, b.op('Add', [b.op('Mul', [ctx.weight(weight)!, b.f32(m)]), b.op('Mul', [b.op('Reshape', [batch, flat]), b.f32(1 - m)])]));
    }
  }
  const scaled = gamma ? b.op('Mul', [xhat, asChannels(gamma)]) : xhat;
  const y = beta ? b.op('Add', [scaled, asChannels(beta)]) : scaled;
  const frozen = ctx.freezeBatchNorm;
  return {
    value: { name: y, shape: [...shape] },
    back: (dy) => {
      const sumAxes = b.i64(axes);
      if (gamma) ctx.addGrad('gamma', b.op('ReduceSum', [b.op('Mul', [dy, xhat]), sumAxes], { keepdims: 0 }));
      if (beta) ctx.addGrad('beta', b.op('ReduceSum', [dy, sumAxes], { keepdims: 0 }));
      if (!ctx.needDx[0]) return [null];
      const dxhat = gamma ? b.op('Mul', [dy, asChannels(gamma)]) : dy;
      if (frozen) return [b.op('Mul', [dxhat, inv])];
      const meanD = b.op('ReduceMean', [dxhat], { axes, keepdims: 1 });
      const meanDX = b.op('ReduceMean', [b.op('Mul', [dxhat, xhat])], { axes, keepdims: 1 });
      return [b.op('Mul', [b.op('Sub', [b.op('Sub', [dxhat, meanD]), b.op('Mul', [xhat, meanDX])]), inv])];
    },
  };
}
