/**
 * QAT under a target (config.target): the outputs the target puts on a fixed
 * grid (TFLite's SOFTMAX / LOGISTIC on 1/256, TANH on 1/128; targets/plan.ts)
 * train on that grid, not on a range the estimator follows. Their quantizers
 * are replaced, after the initial ranges, by frozen ones holding the grid, and
 * neither the TF.js hooks nor the native step graph update them
 * (native/train/step-quantizers.ts skips a fixed quantizer's update). The run's
 * final qparams take the same grids from fixedGridQParams, as a PTQ run's.
 */
import type { Estimator } from '../../api/run-config.js';
import { FakeQuantizer } from '../quant/fake-quantizer.js';
import { MinMaxObserver } from '../quant/observers/index.js';
import type { QuantPlan } from '../transform/plan.js';
import type { QatQuantizers } from './hooks.js';

/** Puts each fixed-grid quantizer of `plan` on its grid (frozen) in `q`; returns their names, which training must not observe into. */
export function fixGridQuantizers(plan: QuantPlan, q: QatQuantizers, estimator: Estimator): Set<string> {
  const fixed = new Set<string>();
  for (const a of plan.activations) {
    if (!a.fixed || a.sharedWith) continue;
    // A min/max observer holding exactly the grid's range (the native trainer reads and writes min/max ranges).
    const obs = new MinMaxObserver({ ...estimator, kind: 'lastvalue' }, { ...a.spec, granularity: 'per-tensor' }, undefined, a.name);
    obs.observeBatchRange([1], { min: Float32Array.of(a.fixed.min), max: Float32Array.of(a.fixed.max), nonFinite: false });
    q.activations.set(a.name, new FakeQuantizer(obs).setMode('frozen'));
    fixed.add(a.name);
  }
  return fixed;
}
