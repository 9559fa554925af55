/** What every observer shares: axis / channel bookkeeping, qparams, config. */
import type * as tf from '@tensorflow/tfjs';
import type { Estimator, EstimatorKind, QuantSpec } from '../../../api/run-config.js';
import { computeQParams, type QParams } from '../qparams.js';
import { ChannelGuard, requestedAxis } from './common.js';
import type { HistogramState, MinMaxState, Observer, ObserverConfig } from './types.js';

export abstract class BaseObserver implements Observer {
  abstract readonly passes: 1 | 2;
  batches = 0;
  sawNonFinite = false;
  protected readonly guard: ChannelGuard;
  protected readonly label: string;

  constructor(
    readonly estimator: Estimator,
    readonly spec: QuantSpec,
    /** The axis exactly as passed to createObserver (kept for toConfig). */
    readonly optsAxis: number | undefined,
    readonly name: string | undefined,
  ) {
    this.label = `${estimator.kind} observer${name ? ` '${name}'` : ''}`;
    this.guard = new ChannelGuard(requestedAxis(spec, optsAxis), this.label);
  }

  get kind(): EstimatorKind {
    return this.estimator.kind;
  }

  get axis(): number | undefined {
    return this.guard.axis;
  }

  abstract observe(x: tf.Tensor, pass?: number): void;
  abstract range(): { min: Float32Array; max: Float32Array };
  protected abstract clear(): void;
  abstract state(): MinMaxState | HistogramState;
  abstract restore(s: MinMaxState | HistogramState): void;

  qparams(): QParams {
    const { min, max } = this.range();
    const axis = this.guard.axis;
    return computeQParams(min, max, this.spec, { ...(this.name ? { name: this.name } : {}), ...(axis !== undefined && axis >= 0 ? { axis } : {}) });
  }

  reset(): void {
    this.batches = 0;
    this.sawNonFinite = false;
    this.guard.reset();
    this.clear();
  }

  toConfig(): ObserverConfig {
    return {
      version: 1,
      estimator: { ...this.estimator },
      spec: { ...this.spec },
      ...(this.optsAxis !== undefined ? { axis: this.optsAxis } : {}),
      ...(this.name !== undefined ? { name: this.name } : {}),
      state: this.state(),
    };
  }
}
