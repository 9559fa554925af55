/**
 * The optimizer update inside the step graph: tf.train.adam, momentum and
 * sgd, op for op as tfjs-core computes them (float32 + − × ÷ √ are correctly
 * rounded in both, so the same gradients give the same weights, bit for bit).
 */
import type { OnnxBuilder } from '../../onnx/builder.js';

/** tf.train.adam, momentum (μ > 0) or sgd; the learning rate and Adam's bias corrections are graph inputs. */
export type StepOptimizer = { kind: 'adam' } | { kind: 'momentum'; momentum: number } | { kind: 'sgd' };

/** tf.train.adam's defaults (β1, β2) and the float32 backends' epsilon. */
export const ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

/** Per-weight optimizer state the graph takes as `<slot>/<node>/<weight>` and returns as `next/<slot>/...`. */
export function optimizerSlots(opt: StepOptimizer | null): string[] {
  if (!opt) return [];
  return opt.kind === 'adam' ? ['m', 'v'] : opt.kind === 'momentum' ? ['acc'] : [];
}

/** The step's hyperparameters as graph inputs: `negLr` (−learning rate), Adam's `oneMinusAcc1` = 1 − β1ᵗ and `oneMinusAcc2` = 1 − β2ᵗ. */
export interface OptimizerInputs {
  negLr: string;
  oneMinusAcc1?: string;
  oneMinusAcc2?: string;
}

export function optimizerInputs(b: OnnxBuilder, opt: StepOptimizer): OptimizerInputs {
  return {
    negLr: b.input('negLr', []),
    ...(opt.kind === 'adam' ? { oneMinusAcc1: b.input('oneMinusAcc1', []), oneMinusAcc2: b.input('oneMinusAcc2', []) } : {}),
  };
}

/**
 * The update of tfjs-core's optimizers:
 *   adam:     m = m·β1 + g·(1−β1);  v = v·β2 + g²·(1−β2)
 *             w = (m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε) · (−lr) + w      (ε = 1e-7, TF.js's float32 epsilon)
 *   momentum: a = μ·a + g;  w = (−lr)·a + w
 *   sgd:      w = (−lr)·g + w
 * Returns the new weight ('w') and slots.
 */
export function optimizerUpdate(b: OnnxBuilder, opt: StepOptimizer, hyper: OptimizerInputs, w: string, g: string, slots: Record<string, string>): Record<string, string> {
  if (opt.kind === 'sgd') return { w: b.op('Add', [b.op('Mul', [hyper.negLr, g]), w]) };
  if (opt.kind === 'momentum') {
    const acc = b.op('Add', [b.op('Mul', [b.f32(opt.momentum), slots['acc']!]), g]);
    return { w: b.op('Add', [b.op('Mul', [hyper.negLr, acc]), w]), acc };
  }
  const m = b.op('Add', [b.op('Mul', [slots['m']!, b.f32(ADAM.beta1)]), b.op('Mul', [g, b.f32(1 - ADAM.beta1)])]);
  const v = b.op('Add', [b.op('Mul', [slots['v']!, b.f32(ADAM.beta2)]), b.op('Mul', [b.op('Mul', [g, g]), b.f32(1 - ADAM.beta2)])]);
  const mHat = b.op('Div', [m, hyper.oneMinusAcc1!]);
  const vHat = b.op('Div', [v, hyper.oneMinusAcc2!]);
  const stepSize = b.op('Div', [mHat, b.op('Add', [b.op('Sqrt', [vHat]), b.f32(ADAM.epsilon)])]);
  return { w: b.op('Add', [b.op('Mul', [stepSize, hyper.negLr]), w]), m, v };
}
