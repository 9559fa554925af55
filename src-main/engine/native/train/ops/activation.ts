/**
 * The IR's activations (graph/activations.ts) in the step graph, each with the
 * gradient TF.js's autodiff gives its tf ops:
 *  - relu: tf.relu, passes where x > 0;
 *  - relu6: tf.clipByValue(x, 0, 6), passes where 0 ≤ x ≤ 6 (ClipByValue's gradient);
 *  - sigmoid / tanh: from the output, y(1 − y) and 1 − y²;
 *  - softmax (over the channel axis): y·dy − Σ(y·dy)·y;
 *  - swish: sigmoid(x)·x, the product rule with sigmoid's gradient;
 *  - hard_sigmoid (Keras 3): relu6(x + 3)/6, tf.relu6's gradient (0 < t ≤ 6) of dy/6;
 *  - hard_sigmoid_keras2: clip(0.2·x + 0.5, 0, 1), ClipByValue's gradient times 0.2;
 *  - hard_swish: x·hard_sigmoid(x), the product rule;
 *  - leaky_relu: tf.leakyRelu, dy where x > 0, else alpha·dy.
 * Every one is element-wise but softmax, which needs the channel axis.
 */
import { DT } from '../../../onnx/proto.js';
import type { Activation, ActivationNode, GraphNode } from '../../../graph/types.js';
import type { OnnxBuilder } from '../onnx-builder.js';
import { channelAxis, unsupported, type OpStep, type StepContext, type Value } from '../step-context.js';

/** An activation's output and its backward pass (dy → dx). */
export interface ActivationStep {
  y: string;
  grad(dy: string): string;
}

type ActivationRule = (b: OnnxBuilder, x: string, opts: { alpha?: number; axis: number }) => ActivationStep;

const float = (b: OnnxBuilder, t: string) => b.op('Cast', [t], { to: DT.FLOAT });
/** tf.relu6's gradient mask, 0 < t ≤ 6, as 0/1. */
const relu6Mask = (b: OnnxBuilder, t: string) => b.op('Mul', [float(b, b.op('LessOrEqual', [t, b.f32(6)])), float(b, b.op('Greater', [t, b.f32(0)]))]);
/** ClipByValue's gradient: dy where lo ≤ t ≤ hi. */
const clipGrad = (b: OnnxBuilder, dy: string, t: string, lo: number, hi: number) =>
  b.op('Where', [b.op('And', [b.op('GreaterOrEqual', [t, b.f32(lo)]), b.op('LessOrEqual', [t, b.f32(hi)])]), dy, b.f32(0)]);

/** Keras 3's hard_sigmoid: t = x + 3, relu6(t)/6; and d/dx of it applied to g: relu6'(t)·g/6. */
function hardSigmoidParts(b: OnnxBuilder, x: string): { t: string; y: string; grad(g: string): string } {
  const t = b.op('Add', [x, b.f32(3)]);
  const y = b.op('Div', [b.op('Clip', [t, b.f32(0), b.f32(6)]), b.f32(6)]);
  return { t, y, grad: (g) => b.op('Mul', [b.op('Div', [g, b.f32(6)]), relu6Mask(b, t)]) };
}

const RULES: Record<Activation, ActivationRule> = {
  linear: (_b, x) => ({ y: x, grad: (dy) => dy }),
  relu: (b, x) => ({ y: b.op('Relu', [x]), grad: (dy) => b.op('Mul', [dy, float(b, b.op('Greater', [x, b.f32(0)]))]) }),
  relu6: (b, x) => ({ y: b.op('Clip', [x, b.f32(0), b.f32(6)]), grad: (dy) => clipGrad(b, dy, x, 0, 6) }),
  sigmoid: (b, x) => {
    const y = b.op('Sigmoid', [x]);
    return { y, grad: (dy) => b.op('Mul', [dy, b.op('Mul', [y, b.op('Sub', [b.f32(1), y])])]) };
  },
  tanh: (b, x) => {
    const y = b.op('Tanh', [x]);
    return { y, grad: (dy) => b.op('Mul', [dy, b.op('Sub', [b.f32(1), b.op('Mul', [y, y])])]) };
  },
  softmax: (b, x, { axis }) => {
    const y = b.op('Softmax', [x], { axis });
    return {
      y,
      grad: (dy) => {
        const dyy = b.op('Mul', [dy, y]);
        return b.op('Sub', [dyy, b.op('Mul', [b.op('ReduceSum', [dyy, b.i64([axis])], { keepdims: 1 }), y])]);
      },
    };
  },
  swish: (b, x) => {
    const s = b.op('Sigmoid', [x]);
    const y = b.op('Mul', [s, x]);
    return {
      y,
      grad: (dy) => {
        const viaSigmoid = b.op('Mul', [b.op('Mul', [dy, x]), b.op('Mul', [s, b.op('Sub', [b.f32(1), s])])]);
        return b.op('Add', [b.op('Mul', [dy, s]), viaSigmoid]);
      },
    };
  },
  hard_sigmoid: (b, x) => {
    const hs = hardSigmoidParts(b, x);
    return { y: hs.y, grad: (dy) => hs.grad(dy) };
  },
  hard_sigmoid_keras2: (b, x) => {
    const t = b.op('Add', [b.f32(0.5), b.op('Mul', [b.f32(0.2), x])]);
    return { y: b.op('Clip', [t, b.f32(0), b.f32(1)]), grad: (dy) => b.op('Mul', [clipGrad(b, dy, t, 0, 1), b.f32(0.2)]) };
  },
  hard_swish: (b, x) => {
    const hs = hardSigmoidParts(b, x);
    return { y: b.op('Mul', [x, hs.y]), grad: (dy) => b.op('Add', [b.op('Mul', [dy, hs.y]), hs.grad(b.op('Mul', [dy, x]))]) };
  },
  leaky_relu: (b, x, { alpha }) => {
    if (alpha === undefined) throw new Error('leaky_relu needs its alpha');
    return { y: b.op('LeakyRelu', [x], { alpha: { float: alpha } }), grad: (dy) => b.op('Where', [b.op('Greater', [x, b.f32(0)]), dy, b.op('Mul', [dy, b.f32(alpha)])]) };
  },
};

/** `activation` applied to x (a value of per-sample `shape`), with its gradient. */
export function applyActivation(b: OnnxBuilder, node: GraphNode, x: string, shape: readonly number[], activation: Activation, alpha?: number): ActivationStep {
  const rule = RULES[activation];
  if (!rule) throw unsupported(node, `applies the activation ${activation}, which has no training rule for onnxruntime`);
  return rule(b, x, { ...(alpha !== undefined ? { alpha } : {}), axis: channelAxis(shape) });
}

/** A Dense / convolution's own activation (none when the loss takes this output's softmax). */
export function fusedActivation(ctx: StepContext, node: GraphNode & { activation: Activation }, pre: string, shape: readonly number[]): ActivationStep {
  return applyActivation(ctx.b, node, pre, shape, ctx.logitsHere ? 'linear' : node.activation);
}

/** An Activation layer. */
export function activationLayer(node: ActivationNode, [x]: Value[], ctx: StepContext): OpStep {
  if (node.activation === 'leaky_relu' && node.alpha === undefined) throw unsupported(node, 'is a leaky_relu without its alpha');
  const a = applyActivation(ctx.b, node, x!.name, x!.shape, ctx.logitsHere ? 'linear' : node.activation, node.alpha);
  return { value: { name: a.y, shape: x!.shape }, back: (dy) => [ctx.needDx[0] ? a.grad(dy) : null] };
}
