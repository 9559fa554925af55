/**
 * The IR's activations (graph/activations.ts) as ONNX ops (opset 13 and
 * later), on a value in any layout (softmax over the channel axis):
 *  - relu: Relu; relu6: Clip(0, 6); sigmoid, tanh: Sigmoid, Tanh;
 *  - swish: x·Sigmoid(x);
 *  - hard_sigmoid (Keras 3's relu6(x + 3)/6 = clip(x/6 + 1/2, 0, 1)):
 *    HardSigmoid(alpha 1/6, beta 1/2); hard_sigmoid_keras2 (clip(0.2·x + 0.5, 0, 1)):
 *    HardSigmoid(0.2, 0.5); hard_swish: x·HardSigmoid(1/6, 1/2)(x), its
 *    definition (ONNX HardSwish needs opset 14);
 *  - leaky_relu: LeakyRelu(alpha).
 */
import type { Activation, GraphNode } from '../../graph/types.js';
import type { OnnxBuilder, OnnxValue } from '../builder.js';
import { refuse } from './common.js';

/** Keras 3's hard_sigmoid relu6(x + 3) / 6 = clip(x/6 + 1/2, 0, 1): ONNX HardSigmoid's alpha and beta. */
export const HARD_SIGMOID = { alpha: 1 / 6, beta: 0.5 };
/** Keras 2's (and tfjs's) hard_sigmoid clip(0.2·x + 0.5, 0, 1). */
export const HARD_SIGMOID_KERAS2 = { alpha: 0.2, beta: 0.5 };

export interface ActivationLowering {
  value: OnnxValue;
  /** swish and hard_swish: the factor g of y = x·g (Sigmoid(x), HardSigmoid(x)). */
  gate?: string;
}

/** `act` applied to x, its nodes named `<node>/<activation>`. */
export function lowerActivation(b: OnnxBuilder, node: GraphNode, x: OnnxValue, act: Activation, alpha?: number): ActivationLowering {
  const out = (op: string) => `${node.name}/${op}`;
  const unary = (type: string, op: string, attrs = {}): ActivationLowering => ({ value: { ...x, name: b.op(type, [x.name], attrs, out(op)) } });
  const hardSigmoid = (p: { alpha: number; beta: number }) => b.op('HardSigmoid', [x.name], { alpha: { float: p.alpha }, beta: { float: p.beta } }, out('hard_sigmoid'));
  const times = (gate: string, op: string): ActivationLowering => ({ value: { ...x, name: b.op('Mul', [x.name, gate], {}, out(op)) }, gate });
  switch (act) {
    case 'linear':
      return { value: x };
    case 'relu':
      return unary('Relu', 'relu');
    case 'relu6':
      return { value: { ...x, name: b.op('Clip', [x.name, b.f32(0, [], out('relu6_min')), b.f32(6, [], out('relu6_max'))], {}, out('relu6')) } };
    case 'sigmoid':
      return unary('Sigmoid', 'sigmoid');
    case 'tanh':
      return unary('Tanh', 'tanh');
    case 'softmax':
      return unary('Softmax', 'softmax', { axis: x.rank === 4 && x.nchw ? 1 : -1 });
    case 'swish':
      return times(b.op('Sigmoid', [x.name], {}, out('sigmoid')), 'swish');
    case 'hard_sigmoid':
      return { value: { ...x, name: hardSigmoid(HARD_SIGMOID) } };
    case 'hard_sigmoid_keras2':
      return { value: { ...x, name: hardSigmoid(HARD_SIGMOID_KERAS2) } };
    case 'hard_swish':
      return times(hardSigmoid(HARD_SIGMOID), 'hard_swish');
    case 'leaky_relu':
      if (alpha === undefined) throw refuse(node, 'is a leaky_relu without its alpha');
      return unary('LeakyRelu', 'leaky_relu', { alpha: { float: alpha } });
    default:
      throw refuse(node, `applies the activation ${act as string}, which has no ONNX lowering`);
  }
}
