/**
 * Ops that move values without arithmetic (and Dropout) in the step graph:
 * the forward is the shared lowering (engine/onnx/ops/shape.ts) but for
 * Dropout, which only training applies; the gradients:
 *  - Flatten / Reshape of any rank: in Keras layout (images leave NCHW
 *    first), Reshape, back to the graph layout; the gradient the reverse way;
 *  - ZeroPadding2D: Pad, its gradient a Slice (none of either where the
 *    'valid' convolution after it applies the pads itself: step-graph.ts,
 *    absorbedZeroPadding); Cropping2D the other way round;
 *  - UpSampling2D (nearest, whole factors): the gradient summed over each
 *    pixel's copies;
 *  - Dropout with rate r: x·mask·(1/(1 − r)) with the step's keep-mask (a
 *    graph input, drawn by the trainer from the run's seeded PRNG), as
 *    tf.dropout scales kept values: its multiplier floor(u + keep)/keep is
 *    0 or the float32 1/keep. With a noise shape (EfficientNet's
 *    drop-connect: one keep/drop per sample) the mask has that shape and
 *    broadcasts. The gradient is dy times the same multiplier.
 */
import type { Crop2DNode, DropoutNode, FlattenNode, ReshapeNode, UpSample2DNode, ZeroPad2DNode } from '../../../graph/types.js';
import type { OnnxBuilder } from '../../../onnx/builder.js';
import { lowerCrop, lowerFlatten, lowerReshape, lowerUpSample, lowerZeroPad, padsOf } from '../../../onnx/ops/index.js';
import { asOnnx, canonical, fromKeras, imageInput, toKeras, unsupported, type OpStep, type StepContext, type Value } from '../step-context.js';

/** A value of per-sample shape `from` as per-sample shape `to` (same size), both in graph layout. */
function reshapeValue(b: OnnxBuilder, x: string, from: readonly number[], to: readonly number[]): string {
  if (from.join(',') === to.join(',')) return x;
  return fromKeras(b, b.op('Reshape', [toKeras(b, x, from), b.i64([-1, ...to])]), to);
}

function reshapeStep(x: Value, forward: Value, ctx: StepContext): OpStep {
  return {
    value: forward,
    back: (dy) => [ctx.needDx[0] ? reshapeValue(ctx.b, dy, forward.shape, x.shape) : null],
  };
}

export function flatten(node: FlattenNode, [x]: Value[], ctx: StepContext): OpStep {
  return reshapeStep(x!, canonical(ctx.b, lowerFlatten(ctx.b, node, asOnnx(x!))), ctx);
}

export function reshape(node: ReshapeNode, [x]: Value[], ctx: StepContext): OpStep {
  return reshapeStep(x!, canonical(ctx.b, lowerReshape(ctx.b, node, asOnnx(x!))), ctx);
}

/** The H×W window [top, top + h) × [left, left + w) of an NCHW tensor. */
function window(b: OnnxBuilder, x: string, top: number, left: number, h: number, w: number): string {
  return b.op('Slice', [x, b.i64([top, left]), b.i64([top + h, left + w]), b.i64([2, 3])]);
}

export function zeroPad2d(node: ZeroPad2DNode, inputs: Value[], ctx: StepContext): OpStep {
  const b = ctx.b;
  const x = imageInput(node, inputs);
  const [h, w] = x.shape as [number, number, number];
  return {
    value: { name: lowerZeroPad(b, node, asOnnx(x)).name, shape: [...node.outputShape] },
    back: (dy) => [ctx.needDx[0] ? window(b, dy, node.padding[0][0], node.padding[1][0], h, w) : null],
  };
}

export function crop2d(node: Crop2DNode, inputs: Value[], ctx: StepContext): OpStep {
  const b = ctx.b;
  const x = imageInput(node, inputs);
  return {
    value: { name: lowerCrop(b, node, asOnnx(x)).name, shape: [...node.outputShape] },
    back: (dy) => [ctx.needDx[0] ? b.op('Pad', [dy, b.i64(padsOf(node.cropping))]) : null],
  };
}

export function upSample2d(node: UpSample2DNode, inputs: Value[], ctx: StepContext): OpStep {
  const b = ctx.b;
  const x = imageInput(node, inputs);
  const [h, w, c] = x.shape as [number, number, number];
  const [sh, sw] = node.size;
  return {
    value: { name: lowerUpSample(b, node, asOnnx(x)).name, shape: [...node.outputShape] },
    back: (dy) => [ctx.needDx[0] ? b.op('ReduceSum', [b.op('Reshape', [dy, b.i64([0, c, h, sh, w, sw])]), b.i64([3, 5])], { keepdims: 0 }) : null],
  };
}

/** tf.dropout's multiplier for kept values: 1/keep in float32, keep = 1 − rate in float32. */
export function dropoutScale(rate: number): number {
  return Math.fround(1 / Math.fround(1 - rate));
}

export function dropout(node: DropoutNode, [x]: Value[], ctx: StepContext): OpStep {
  if (!(node.rate > 0)) return { value: x!, back: (dy) => [ctx.needDx[0] ? dy : null] };
  if (node.rate >= 1) throw unsupported(node, `drops everything (rate ${node.rate})`);
  const b = ctx.b;
  // The mask's shape: the noise shape (null: that axis' size), else the input's; it broadcasts.
  const noise = node.noiseShape;
  if (noise && noise.length !== x!.shape.length + 1) throw unsupported(node, `has a noise shape [${noise.join(',')}] of another rank than its input`);
  const shape = noise ? noise.slice(1).map((d, i) => d ?? x!.shape[i]!) : x!.shape;
  const multiplier = b.op('Mul', [ctx.dropoutMask(shape, noise?.[0] === 1), b.f32(dropoutScale(node.rate))]);
  return {
    value: { name: b.op('Mul', [x!.name, multiplier]), shape: x!.shape },
    back: (dy) => [ctx.needDx[0] ? b.op('Mul', [dy, multiplier]) : null],
  };
}
