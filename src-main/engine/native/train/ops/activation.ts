/**
 * The IR's activations in the step graph: the forward is the shared lowering
 * (engine/onnx/ops/activation.ts); the gradient of each is the one TF.js's
 * autodiff gives its tf ops:
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
import type { Activation, ActivationNode, GraphNode } from '../../../graph/types.js';
import type { OnnxBuilder, OnnxValue } from '../../../onnx/builder.js';
import { lowerActivation, type ActivationLowering } from '../../../onnx/ops/index.js';
import { DT } from '../../../onnx/proto.js';
import { asOnnx, unsupported, type ClipStep, type OpStep, type StepContext, type Value } from '../step-context.js';

const float = (b: OnnxBuilder, t: string) => b.op('Cast', [t], { to: DT.FLOAT });
/** tf.relu6's gradient mask, 0 < t ≤ 6, as 0/1. */
const relu6Mask = (b: OnnxBuilder, t: string) => b.op('Mul', [float(b, b.op('LessOrEqual', [t, b.f32(6)])), float(b, b.op('Greater', [t, b.f32(0)]))]);
/** ClipByValue's gradient: dy where lo ≤ t ≤ hi. */
const clipGrad = (b: OnnxBuilder, dy: string, t: string, lo: number, hi: number) =>
  b.op('Where', [b.op('And', [b.op('GreaterOrEqual', [t, b.f32(lo)]), b.op('LessOrEqual', [t, b.f32(hi)])]), dy, b.f32(0)]);
/** d/dx of Keras 3's hard_sigmoid relu6(x + 3)/6 applied to g: relu6'(x + 3)·g/6. */
const hardSigmoidGrad = (b: OnnxBuilder, x: string, g: string) => b.op('Mul', [b.op('Div', [g, b.f32(6)]), relu6Mask(b, b.op('Add', [x, b.f32(3)]))]);

/**
 * The backward pass (dy → dx) of `activation` lowered on `x` as `f`
 * (f.value.name is its output y; f.gate swish's sigmoid(x) and hard_swish's hard_sigmoid(x)).
 */
export function activationGrad(b: OnnxBuilder, node: GraphNode, activation: Activation, x: OnnxValue, f: ActivationLowering, alpha?: number): (dy: string) => string {
  const xn = x.name;
  const y = f.value.name;
  switch (activation) {
    case 'linear':
      return (dy) => dy;
    case 'relu':
      return (dy) => b.op('Mul', [dy, float(b, b.op('Greater', [xn, b.f32(0)]))]);
    case 'relu6':
      return (dy) => clipGrad(b, dy, xn, 0, 6);
    case 'sigmoid':
      return (dy) => b.op('Mul', [dy, b.op('Mul', [y, b.op('Sub', [b.f32(1), y])])]);
    case 'tanh':
      return (dy) => b.op('Mul', [dy, b.op('Sub', [b.f32(1), b.op('Mul', [y, y])])]);
    case 'softmax': {
      const axis = x.rank === 4 && x.nchw ? 1 : x.rank - 1;
      return (dy) => {
        const dyy = b.op('Mul', [dy, y]);
        return b.op('Sub', [dyy, b.op('Mul', [b.op('ReduceSum', [dyy, b.i64([axis])], { keepdims: 1 }), y])]);
      };
    }
    case 'swish': {
      const s = f.gate!;
      return (dy) => b.op('Add', [b.op('Mul', [dy, s]), b.op('Mul', [b.op('Mul', [dy, xn]), b.op('Mul', [s, b.op('Sub', [b.f32(1), s])])])]);
    }
    case 'hard_sigmoid':
      return (dy) => hardSigmoidGrad(b, xn, dy);
    case 'hard_sigmoid_keras2':
      return (dy) => b.op('Mul', [clipGrad(b, dy, b.op('Add', [b.f32(0.5), b.op('Mul', [b.f32(0.2), xn])]), 0, 1), b.f32(0.2)]);
    case 'hard_swish': {
      const hs = f.gate!;
      return (dy) => b.op('Add', [b.op('Mul', [dy, hs]), hardSigmoidGrad(b, xn, b.op('Mul', [dy, xn]))]);
    }
    case 'leaky_relu': {
      if (alpha === undefined) throw unsupported(node, 'is a leaky_relu without its alpha');
      return (dy) => b.op('Where', [b.op('Greater', [xn, b.f32(0)]), dy, b.op('Mul', [dy, b.f32(alpha)])]);
    }
    default:
      throw unsupported(node, `applies the activation ${activation as string}, which has no training rule for onnxruntime`);
  }
}

/** relu6 as clip(x, 0, 6) with ClipByValue's gradient; relu as clip(x, 0, +∞) whose gradient passes where x > 0. */
export function reluClip(activation: 'relu' | 'relu6', x: string, pass: ClipStep['pass']): ClipStep {
  return activation === 'relu6' ? { x, lo: 0, hi: 6, pass } : { x, lo: 0, hi: Infinity, open: true, pass };
}

/** An Activation layer (the identity where the loss takes this output's softmax). */
export function activationLayer(node: ActivationNode, [x]: Value[], ctx: StepContext): OpStep {
  if (node.activation === 'leaky_relu' && node.alpha === undefined) throw unsupported(node, 'is a leaky_relu without its alpha');
  const activation = ctx.logitsHere ? 'linear' : node.activation;
  const input = asOnnx(x!);
  const f = lowerActivation(ctx.b, node, input, activation, node.alpha);
  const grad = activationGrad(ctx.b, node, activation, input, f, node.alpha);
  return {
    value: { name: f.value.name, shape: x!.shape },
    back: (dy) => [ctx.needDx[0] ? grad(dy) : null],
    ...(activation === 'relu6' || activation === 'relu' ? { clip: reluClip(activation, input.name, (dy) => [ctx.needDx[0] ? dy : null]) } : {}),
  };
}
