/**
 * An observer plus the fake-quant op, with torch.ao FakeQuantize's two switches:
 *
 * | use            | observerEnabled | fakeQuantEnabled |
 * |----------------|-----------------|------------------|
 * | PTQ calibration| true            | false            | (watch only, output = input)
 * | QAT            | true            | true             | (observe each batch, then fake-quant with the fresh qparams)
 * | frozen QAT / simulated eval | false | true          | (fake-quant with the qparams as they are)
 * | float          | false           | false            |
 *
 * `apply(x)`:
 * - observer on: `observer.observe(x)` (single-pass call: histogram observers
 *   stream, see observers/histogram-observer.ts). When fake quant is on too,
 *   the observation runs inside the fake-quant op's forward function, where
 *   TF.js records no gradient, so statistics never enter gradients.
 * - fake quant on: {@link fakeQuantDeferred} with `observer.qparams()`; the
 *   gradient to x is the straight-through estimator (zero outside the nudged
 *   range). Off: returns `x` itself (not a copy).
 * A per-channel observer's axis is also the fake-quant axis.
 */
import type * as tf from '@tensorflow/tfjs';
import { fakeQuant, fakeQuantDeferred, ROUNDING_MODES, type RoundingMode } from './fake-quant.js';
import type { QParams } from './qparams.js';
import { observerFromConfig, type Observer, type ObserverConfig } from './observers/index.js';

export interface FakeQuantizerOptions {
  /** Default 'half-up' (TF fake quant); see {@link RoundingMode}. */
  rounding?: RoundingMode;
}

export interface FakeQuantizerConfig {
  version: 1;
  observer: ObserverConfig;
  observerEnabled: boolean;
  fakeQuantEnabled: boolean;
  rounding: RoundingMode;
}

export type FakeQuantizerMode = 'calibrate' | 'qat' | 'frozen' | 'float';

export class FakeQuantizer {
  observerEnabled = true;
  fakeQuantEnabled = true;
  readonly rounding: RoundingMode;

  constructor(
    readonly observer: Observer,
    opts: FakeQuantizerOptions = {},
  ) {
    this.rounding = opts.rounding ?? 'half-up';
    if (!ROUNDING_MODES.includes(this.rounding)) throw new Error(`unknown rounding mode '${this.rounding}'`);
  }

  /** Sets both switches from a named use (table in the module doc). */
  setMode(mode: FakeQuantizerMode): this {
    this.observerEnabled = mode === 'calibrate' || mode === 'qat';
    this.fakeQuantEnabled = mode === 'qat' || mode === 'frozen';
    return this;
  }

  apply(x: tf.Tensor): tf.Tensor {
    const axis = this.observer.axis;
    if (!this.fakeQuantEnabled) {
      if (this.observerEnabled) this.observer.observe(x);
      return x;
    }
    if (!this.observerEnabled) return fakeQuant(x, this.observer.qparams(), { rounding: this.rounding, ...(axis !== undefined && axis >= 0 ? { axis } : {}) });
    let observed = false;
    // The axis comes from the qparams (qp.axis), which the observer resolves on its first batch.
    return fakeQuantDeferred(
      x,
      () => {
        if (!observed) {
          // Guarded so a re-run of the forward function could not count a batch twice.
          this.observer.observe(x);
          observed = true;
        }
        return this.observer.qparams();
      },
      { rounding: this.rounding },
    );
  }

  /** The observer's current qparams (throws if it has seen nothing). */
  qparams(): QParams {
    return this.observer.qparams();
  }

  toConfig(): FakeQuantizerConfig {
    return {
      version: 1,
      observer: this.observer.toConfig(),
      observerEnabled: this.observerEnabled,
      fakeQuantEnabled: this.fakeQuantEnabled,
      rounding: this.rounding,
    };
  }

  static fromConfig(c: FakeQuantizerConfig): FakeQuantizer {
    if (c.version !== 1) throw new Error(`fake quantizer config version ${String(c.version)} is not supported`);
    const fq = new FakeQuantizer(observerFromConfig(c.observer), { rounding: c.rounding });
    fq.observerEnabled = c.observerEnabled;
    fq.fakeQuantEnabled = c.fakeQuantEnabled;
    return fq;
  }

  /** Same observer configuration and state, switches and rounding. */
  equals(other: FakeQuantizer): boolean {
    return JSON.stringify(this.toConfig()) === JSON.stringify(other.toConfig());
  }
}
