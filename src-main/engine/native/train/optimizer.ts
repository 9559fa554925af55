/**
 * The optimizer step of native training, on Float32Arrays in place: the
 * update rules of tf.train.adam / momentum / sgd (tfjs-core's optimizers),
 * each operation rounded to float32 in the same order, so a step here and a
 * step of the TF.js loop on the same gradients give the same weights.
 *
 *   adam:     m = m·β1 + g·(1−β1);  v = v·β2 + g²·(1−β2)
 *             w = (m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε) · (−lr) + w      (ε = 1e-7, TF.js's float32 epsilon)
 *   momentum: a = μ·a + g;  w = (−lr)·a + w
 *   sgd:      w = (−lr)·g + w
 */
import type { Training } from '../../../api/run-config.js';

const f = Math.fround;
const BETA1 = 0.9;
const BETA2 = 0.999;
const EPSILON = 1e-7;

export interface Optimizer {
  /** Updates `weights[i]` in place by `grads[i]`. */
  step(weights: Float32Array[], grads: Float32Array[]): void;
}

export function makeOptimizer(t: Training): Optimizer {
  if (t.optimizer === 'adam') return adam(t.learningRate);
  return t.momentum > 0 ? momentum(t.learningRate, t.momentum) : sgd(t.learningRate);
}

function adam(learningRate: number): Optimizer {
  const first: Float32Array[] = [];
  const second: Float32Array[] = [];
  let accBeta1 = f(BETA1);
  let accBeta2 = f(BETA2);
  const b1 = f(BETA1);
  const b2 = f(BETA2);
  const c1 = f(1 - BETA1);
  const c2 = f(1 - BETA2);
  const eps = f(EPSILON);
  const negLr = f(-learningRate);
  return {
    step(weights, grads) {
      const oneMinusAcc1 = f(1 - accBeta1);
      const oneMinusAcc2 = f(1 - accBeta2);
      weights.forEach((w, i) => {
        const g = grads[i]!;
        const m = (first[i] ??= new Float32Array(w.length));
        const v = (second[i] ??= new Float32Array(w.length));
        for (let k = 0; k < w.length; k++) {
          const gk = g[k]!;
          const mk = f(f(m[k]! * b1) + f(gk * c1));
          const vk = f(f(v[k]! * b2) + f(f(gk * gk) * c2));
          m[k] = mk;
          v[k] = vk;
          const mHat = f(mk / oneMinusAcc1);
          const vHat = f(vk / oneMinusAcc2);
          w[k] = f(f(f(mHat / f(f(Math.sqrt(vHat)) + eps)) * negLr) + w[k]!);
        }
      });
      accBeta1 = f(accBeta1 * b1);
      accBeta2 = f(accBeta2 * b2);
    },
  };
}

function momentum(learningRate: number, mu: number): Optimizer {
  const acc: Float32Array[] = [];
  const m = f(mu);
  const negLr = f(-learningRate);
  return {
    step(weights, grads) {
      weights.forEach((w, i) => {
        const g = grads[i]!;
        const a = (acc[i] ??= new Float32Array(w.length));
        for (let k = 0; k < w.length; k++) {
          const ak = f(f(m * a[k]!) + g[k]!);
          a[k] = ak;
          w[k] = f(f(negLr * ak) + w[k]!);
        }
      });
    },
  };
}

function sgd(learningRate: number): Optimizer {
  const negLr = f(-learningRate);
  return {
    step(weights, grads) {
      weights.forEach((w, i) => {
        const g = grads[i]!;
        for (let k = 0; k < w.length; k++) w[k] = f(f(negLr * g[k]!) + w[k]!);
      });
    },
  };
}
