/**
 * Observers: watch tensors, choose a clipping range, produce qparams.
 *
 * | kind          | tfmot name   | passes | rule |
 * |---------------|--------------|--------|------|
 * | minmax        | AllValues    | 1 | running min / max over all batches |
 * | lastvalue     | LastValue    | 1 | the last batch's min / max |
 * | movingaverage | MovingAverage| 1 | first batch, then `ema = decay·ema + (1−decay)·batch` |
 * | percentile    | —            | 2 | keep `percentile` % of the mass (two-sided; |x| for symmetric specs) |
 * | mse           | —            | 2 | least expected fake-quant squared error (clipping + rounding) on the histogram |
 * | entropy       | —            | 2 | TensorRT KL calibration: least KL(P‖Q) |
 *
 * Details and edge cases: ./minmax.ts, ./histogram-observer.ts, ./search.ts.
 * Per-channel observers take the spec's (or `opts.axis`) channel axis, default
 * the last axis; every statistic is then a vector over that axis, and
 * `qparams()` always returns vectors of the channel count. Observation reads
 * values out of the tensor (dataSync / small reductions under tidy): it never
 * changes or disposes the input and never enters a gradient.
 */
import { Estimator, type QuantSpec } from '../../../api/run-config.js';
import { specFromConfig } from '../spec.js';
import type { BaseObserver } from './base.js';
import { HistogramObserver } from './histogram-observer.js';
import { MinMaxObserver } from './minmax.js';
import type { Observer, ObserverConfig } from './types.js';

export type { Observer, ObserverConfig, MinMaxState, HistogramState } from './types.js';
export { MinMaxObserver } from './minmax.js';
export { HistogramObserver, binsPerChannel, MANY_CHANNELS, MANY_CHANNEL_BINS } from './histogram-observer.js';

export interface ObserverOptions {
  /** Channel axis (negative counts from the end); default `spec.axis`, else −1. Ignored for per-tensor specs. */
  axis?: number;
  /** Tensor name for error messages, e.g. `conv2d_1/kernel`. */
  name?: string;
}

export function createObserver(estimator: Estimator, spec: QuantSpec, opts: ObserverOptions = {}): Observer {
  const est = Estimator.parse(estimator);
  switch (est.kind) {
    case 'minmax':
    case 'lastvalue':
    case 'movingaverage':
      return new MinMaxObserver(est, spec, opts.axis, opts.name);
    case 'percentile':
    case 'mse':
    case 'entropy':
      return new HistogramObserver(est, spec, opts.axis, opts.name);
  }
}

/** Rebuilds an observer, state included, from {@link Observer.toConfig}. */
export function observerFromConfig(c: ObserverConfig): Observer {
  if (c.version !== 1) throw new Error(`observer config version ${String(c.version)} is not supported`);
  const obs = createObserver(c.estimator, specFromConfig(c.spec), {
    ...(c.axis !== undefined ? { axis: c.axis } : {}),
    ...(c.name !== undefined ? { name: c.name } : {}),
  }) as BaseObserver;
  obs.restore(c.state);
  return obs;
}

/** Same configuration and same state (compared as JSON). */
export function observerEquals(a: Observer, b: Observer): boolean {
  return JSON.stringify(a.toConfig()) === JSON.stringify(b.toConfig());
}
