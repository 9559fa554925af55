/**
 * Pieces shared by every observer: the channel axis (requested → resolved on
 * the first batch), the channel-count guard, batch min/max that skips
 * non-finite values, and the JSON encoding of float vectors that may hold ±Inf.
 */
import type * as tf from '@tensorflow/tfjs';
import type { QuantSpec } from '../../../api/run-config.js';
import { channelLayout, validateChannelAxis } from '../spec.js';
import { channelMinMax, type BatchMinMax } from './reduce.js';

/**
 * The axis an observer was asked for: `opts.axis`, else `spec.axis`, else −1
 * (the last axis, as in {@link fakeQuant}) for per-channel specs; always
 * undefined for per-tensor specs (an axis given with a per-tensor spec is ignored).
 */
export function requestedAxis(spec: QuantSpec, axis: number | undefined): number | undefined {
  if (spec.granularity === 'per-tensor') return undefined;
  return axis ?? spec.axis ?? -1;
}

/**
 * Tracks the resolved channel axis and channel count of an observer, and
 * throws clear errors when a later batch disagrees with the first.
 */
export class ChannelGuard {
  /** Non-negative once a batch was seen (per-channel), else the requested axis. */
  axis: number | undefined;
  /** Channel count fixed by the first batch (1 for per-tensor); 0 before. */
  channels = 0;

  constructor(
    readonly requested: number | undefined,
    private readonly label: string,
  ) {
    this.axis = requested;
  }

  /** Resolves the axis against `shape` and checks the channel count; returns the count. */
  check(shape: readonly number[]): number {
    let c = 1;
    if (this.requested !== undefined) {
      const a = validateChannelAxis(this.channels > 0 ? this.axis! : this.requested, shape, { tensor: this.label });
      c = shape[a]!;
      if (this.channels > 0 && c !== this.channels) {
        throw new Error(`${this.label}: channel count changed from ${this.channels} to ${c} (axis ${a} of shape [${shape.join(',')}])`);
      }
      this.axis = a;
    }
    if (this.channels === 0 && c === 0) throw new Error(`${this.label}: channel axis ${this.axis} of shape [${shape.join(',')}] has no channels`);
    this.channels = c;
    return c;
  }

  reset(): void {
    this.axis = this.requested;
    this.channels = 0;
  }

  /** Restores state written by an observer's toConfig. */
  restore(axis: number | undefined, channels: number): void {
    if (channels > 0) {
      this.axis = axis;
      this.channels = channels;
    }
  }
}

/**
 * Per-channel min/max of a batch over its finite values only. The fast path is
 * {@link channelMinMax}; only when it reports NaN/±Inf is the data scanned
 * again in JS skipping them, so every backend gives the same answer (TF.js'
 * plain reductions propagate NaN, XNNPACK's pool skips it). A channel without
 * any finite value comes back as `[+Inf, −Inf]` (an empty range).
 */
export function finiteChannelMinMax(x: tf.Tensor, axis: number | undefined): BatchMinMax | null {
  const r = channelMinMax(x, axis);
  if (r === null || !r.nonFinite) return r;
  const { min, max } = finiteMinMaxJs(x.dataSync(), x.shape, axis);
  return { min, max, nonFinite: true };
}

/** Slow path of {@link finiteChannelMinMax}: one JS pass that ignores NaN and ±Inf. */
export function finiteMinMaxJs(data: ArrayLike<number>, shape: readonly number[], axis: number | undefined): { min: Float32Array; max: Float32Array } {
  const { outer, channels, inner } = channelLayout(shape, axis);
  const min = new Float64Array(channels).fill(Infinity);
  const max = new Float64Array(channels).fill(-Infinity);
  let i = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      let lo = min[c]!;
      let hi = max[c]!;
      for (let j = 0; j < inner; j++, i++) {
        const v = data[i]!;
        if (v - v !== 0) continue; // NaN or ±Inf
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      min[c] = lo;
      max[c] = hi;
    }
  }
  return { min: Float32Array.from(min), max: Float32Array.from(max) };
}

/** A float in JSON: finite numbers as is, the rest as strings (JSON has no Infinity/NaN). */
export type JsonFloat = number | 'Infinity' | '-Infinity' | 'NaN';

export function encodeFloats(v: ArrayLike<number>): JsonFloat[] {
  return Array.from(v, (x) => (Number.isFinite(x) ? x : Number.isNaN(x) ? 'NaN' : x > 0 ? 'Infinity' : '-Infinity'));
}

export function decodeFloats(v: readonly JsonFloat[]): Float64Array {
  return Float64Array.from(v, (x) => (typeof x === 'number' ? x : Number(x)));
}

/** Throws the standard "nothing observed" / "no finite values" errors, else returns the vectors as float32. */
export function finishRange(label: string, min: ArrayLike<number>, max: ArrayLike<number>, batches: number): { min: Float32Array; max: Float32Array } {
  if (batches === 0 || min.length === 0) throw new Error(`${label}: nothing observed yet (call observe() on at least one non-empty batch)`);
  for (let c = 0; c < min.length; c++) {
    if (!(min[c]! <= max[c]!)) {
      const chan = min.length > 1 ? ` channel ${c}` : '';
      throw new Error(`${label}:${chan} saw no finite values (every observed value was NaN or ±Inf)`);
    }
  }
  return { min: Float32Array.from(min), max: Float32Array.from(max) };
}
