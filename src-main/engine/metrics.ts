/**
 * Streaming metrics over batches, all accumulated in float64 in JS over
 * `dataSync()` values (no tensors are kept or created, so nothing leaks and
 * nothing enters a gradient):
 *
 * - {@link SqnrAccumulator}: signal-to-quantization-noise ratio in dB,
 *   `10·log10(Σ ref² / Σ (ref − test)²)`, over all batches (sums, not a mean
 *   of per-batch ratios), optionally per channel.
 * - {@link ClipCounter}: fraction of elements outside the nudged range of their channel.
 * - {@link HistogramAccumulator} / {@link clippedMass}: fixed-span histograms.
 * - {@link ClassificationAccumulator}: accuracy and mean sparse categorical cross-entropy.
 */
import type * as tf from '@tensorflow/tfjs';
import type { QParams } from './quant/qparams.js';
import { channelLayout, validateChannelAxis } from './quant/spec.js';

/** Values that are not a tensor: what onnxruntime hands back (its layout's shape, float32 data). */
export interface Values {
  shape: readonly number[];
  data: Float32Array;
}

export function valuesOf(x: tf.Tensor | Values): Values {
  return isTensor(x) ? { shape: x.shape, data: x.dataSync() as Float32Array } : x;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export interface SqnrOptions {
  /** Channel axis (negative counts from the end) for {@link SqnrAccumulator.perChannel}. */
  axis?: number;
}

/**
 * SQNR in dB between a reference (float) tensor and its quantized version.
 * `value()`: `10·log10(S / N)` with `S = Σ ref²`, `N = Σ (ref − test)²` over
 * everything added; `+Infinity` when N = 0 (identical), `−Infinity` when S = 0 < N,
 * `NaN` when nothing was added (or the data held NaN).
 */
export class SqnrAccumulator {
  private readonly requestedAxis: number | undefined;
  private axis: number | undefined;
  private signal = 0;
  private noise = 0;
  private chSignal: Float64Array | null = null;
  private chNoise: Float64Array | null = null;
  /** Elements added. */
  count = 0;

  constructor(opts: SqnrOptions = {}) {
    this.requestedAxis = opts.axis;
  }

  add(refIn: tf.Tensor | Values, testIn: tf.Tensor | Values): void {
    const ref = valuesOf(refIn);
    const test = valuesOf(testIn);
    if (!sameShape(ref.shape, test.shape)) throw new Error(`SQNR: reference shape [${ref.shape.join(',')}] differs from test shape [${test.shape.join(',')}]`);
    if (ref.data.length === 0) return;
    const r = ref.data;
    const t = test.data;
    let s = 0;
    let n = 0;
    if (this.requestedAxis === undefined) {
      for (let i = 0; i < r.length; i++) {
        const v = r[i]!;
        const d = v - t[i]!;
        s += v * v;
        n += d * d;
      }
    } else {
      const axis = validateChannelAxis(this.requestedAxis, ref.shape, { tensor: 'SQNR input' });
      const { outer, channels, inner } = channelLayout(ref.shape, axis);
      if (!this.chSignal) {
        this.axis = axis;
        this.chSignal = new Float64Array(channels);
        this.chNoise = new Float64Array(channels);
      } else if (this.chSignal.length !== channels) {
        throw new Error(`SQNR: channel count changed from ${this.chSignal.length} to ${channels}`);
      }
      const cs = this.chSignal;
      const cn = this.chNoise!;
      let i = 0;
      for (let o = 0; o < outer; o++) {
        for (let c = 0; c < channels; c++) {
          let sc = 0;
          let nc = 0;
          for (let j = 0; j < inner; j++, i++) {
            const v = r[i]!;
            const d = v - t[i]!;
            sc += v * v;
            nc += d * d;
          }
          cs[c] += sc;
          cn[c] += nc;
          s += sc;
          n += nc;
        }
      }
    }
    this.signal += s;
    this.noise += n;
    this.count += r.length;
  }

  value(): number {
    if (this.count === 0) return NaN;
    return sqnrDb(this.signal, this.noise);
  }

  /** dB per channel along the axis; null for a per-tensor accumulator or before the first add. */
  perChannel(): Float32Array | null {
    if (!this.chSignal) return null;
    return Float32Array.from(this.chSignal, (s, c) => sqnrDb(s, this.chNoise![c]!));
  }

  /** The resolved channel axis (after the first add). */
  get channelAxis(): number | undefined {
    return this.axis;
  }
}

/** `10·log10(signal / noise)`, +Infinity for zero noise. */
export function sqnrDb(signal: number, noise: number): number {
  if (Number.isNaN(signal) || Number.isNaN(noise)) return NaN;
  if (noise === 0) return Infinity;
  return 10 * Math.log10(signal / noise);
}

/**
 * Per channel, the values past which the grid clips: nudged_min − scale/2
 * and nudged_max + scale/2, in float64 (a value exactly half a step out is
 * rounding, not clipping). The native evaluation compares against the same
 * bounds rounded to float32.
 */
export function clipBounds(qp: QParams): { lo: Float64Array; hi: Float64Array } {
  const n = qp.nudgedMin.length;
  const lo = new Float64Array(n);
  const hi = new Float64Array(n);
  for (let c = 0; c < n; c++) {
    const half = qp.scale[c]! / 2;
    lo[c] = qp.nudgedMin[c]! - half;
    hi[c] = qp.nudgedMax[c]! + half;
  }
  return { lo, hi };
}

/**
 * Counts elements the quantization grid clips: more than half a step outside
 * `[nudgedMin, nudgedMax]` of their channel ({@link clipBounds}). A value
 * within half a step of the grid's end loses no more than rounding does
 * anywhere inside: TF's nudge moves a [-1, 1] range to [-0.99608, 1.00392],
 * and counting the pixels at exactly -1 as clipped made the input of an
 * image model scaled to [-1, 1] read 51.77% clipped (its black background).
 * Per-channel qparams use `axis`, else `qp.axis`, else the last axis. NaN
 * counts as not clipped.
 */
export class ClipCounter {
  clipped = 0;
  total = 0;
  private readonly axis: number | undefined;

  constructor(
    readonly qp: QParams,
    axis?: number,
  ) {
    this.axis = qp.granularity === 'per-channel' ? (axis ?? qp.axis ?? -1) : undefined;
  }

  add(input: tf.Tensor | Values): void {
    const x = valuesOf(input);
    if (x.data.length === 0) return;
    const axis = this.axis === undefined ? undefined : validateChannelAxis(this.axis, x.shape, { tensor: 'clip-counter input' });
    const { outer, channels, inner } = channelLayout(x.shape, axis);
    if (channels !== this.qp.nudgedMin.length) {
      throw new Error(`ClipCounter: ${this.qp.nudgedMin.length} channel ranges but axis ${axis} of shape [${x.shape.join(',')}] has ${channels}`);
    }
    const d = x.data;
    const { lo: mins, hi: maxs } = clipBounds(this.qp);
    let clipped = 0;
    let i = 0;
    for (let o = 0; o < outer; o++) {
      for (let c = 0; c < channels; c++) {
        const lo = mins[c]!;
        const hi = maxs[c]!;
        for (let j = 0; j < inner; j++, i++) {
          const v = d[i]!;
          if (v < lo || v > hi) clipped++;
        }
      }
    }
    this.clipped += clipped;
    this.total += d.length;
  }

  /** clipped / total; NaN when nothing was added. */
  rate(): number {
    return this.total === 0 ? NaN : this.clipped / this.total;
  }
}

/**
 * A histogram over `[lo, hi]` with `bins` equal bins; bin `k` is
 * `[lo + k·w, lo + (k+1)·w)`, the last bin also takes `hi`. Values below `lo`
 * (including −Inf) count in `underflow`, above `hi` (including +Inf) in
 * `overflow`, NaN in `nan`; none of those enter `counts()`.
 */
export class HistogramAccumulator {
  underflow = 0;
  overflow = 0;
  nan = 0;
  private readonly bins: Uint32Array;
  private readonly width: number;

  constructor(
    readonly lo: number,
    readonly hi: number,
    binCount: number,
  ) {
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(lo < hi)) throw new Error(`histogram span [${lo}, ${hi}] must be finite with lo < hi`);
    if (!Number.isInteger(binCount) || binCount < 1) throw new Error(`histogram needs a positive integer number of bins, got ${binCount}`);
    this.bins = new Uint32Array(binCount);
    this.width = (hi - lo) / binCount;
  }

  add(x: tf.Tensor | ArrayLike<number>): void {
    const d: ArrayLike<number> = isTensor(x) ? x.dataSync() : x;
    const { lo, hi, width } = this;
    const inverse = 1 / width;
    const counts = this.bins;
    const last = counts.length - 1;
    for (let i = 0; i < d.length; i++) {
      const v = d[i]!;
      if (v >= lo && v <= hi) {
        // Non-negative and at most the bin count here, so truncation is floor (and twice as fast in V8).
        // A product instead of the quotient (a division per value was most of an evaluation's statistics
        // time); the two differ by a few ulps, so a value within 1e-9 of a bin edge takes the quotient:
        // the bins are exactly (v − lo) / width's.
        // Within 1e-9 above bin 0's low edge both give bin 0 (the span's low edge: ReLU's zeros, often half
        // the values). The test is one bitwise expression, not && / ||: as branches, a random mix of zeros
        // and others mispredicts (measured: the histogram 2-3x slower).
        const s = v - lo;
        const x = s * inverse;
        let t = x | 0;
        const f = x - t;
        if ((+(f < 1e-9) & +(t > 0)) | +(f > 1 - 1e-9)) t = (s / width) | 0;
        counts[t > last ? last : t]!++;
      } else if (v < lo) this.underflow++;
      else if (v > hi) this.overflow++;
      else this.nan++;
    }
  }

  /** A copy of the in-span counts. */
  counts(): Uint32Array {
    return this.bins.slice();
  }

  /** Everything added, in span or not. */
  get total(): number {
    let s = this.underflow + this.overflow + this.nan;
    for (let i = 0; i < this.bins.length; i++) s += this.bins[i]!;
    return s;
  }
}

function isTensor(x: unknown): x is tf.Tensor {
  return typeof (x as tf.Tensor).dataSync === 'function' && Array.isArray((x as tf.Tensor).shape);
}

/**
 * Fraction of a histogram's mass (`counts` over `[lo, hi]`, equal bins)
 * outside `[rangeMin, rangeMax]`, taking each bin's mass as spread uniformly
 * over the bin (a bin cut by a range edge contributes its share). NaN for an
 * empty histogram.
 */
export function clippedMass(counts: ArrayLike<number>, lo: number, hi: number, rangeMin: number, rangeMax: number): number {
  const n = counts.length;
  const w = (hi - lo) / n;
  let total = 0;
  let outside = 0;
  for (let k = 0; k < n; k++) {
    const c = counts[k]!;
    if (c === 0) continue;
    total += c;
    const a = lo + k * w;
    const b = a + w;
    const inside = Math.max(0, Math.min(b, rangeMax) - Math.max(a, rangeMin));
    outside += c * (1 - Math.min(1, inside / w));
  }
  return total === 0 ? NaN : outside / total;
}

export interface ClassificationOptions {
  /** true: outputs are logits (log-softmax is applied); false: probabilities. */
  fromLogits: boolean;
}

/** Keras' epsilon, used to clip probabilities before the log. */
export const PROB_EPS = 1e-7;

/**
 * Accuracy (argmax, ties → the first index, as tf.argMax) and mean sparse
 * categorical cross-entropy:
 * - logits z: `logsumexp(z) − z_y`, computed as `m + log Σ exp(z − m) − z_y`
 *   with `m = max z` (stable for large logits);
 * - probabilities p: `−log(clip(p_y, 1e−7, 1 − 1e−7))` (Keras' clipping).
 */
export class ClassificationAccumulator {
  count = 0;
  private correct = 0;
  private lossSum = 0;

  add(outputs: tf.Tensor2D, labels: tf.Tensor1D | Int32Array | ArrayLike<number>, opts: ClassificationOptions): void {
    if (outputs.rank !== 2) throw new Error(`classification outputs must be [batch, classes], got [${outputs.shape.join(',')}]`);
    const [n, k] = outputs.shape;
    this.addRows(outputs.dataSync(), n, k, isTensor(labels) ? labels.dataSync() : labels, opts);
  }

  /** {@link add} on plain row-major values `z` of `n` rows and `k` classes (outputs of a native runtime). */
  addRows(z: ArrayLike<number>, n: number, k: number, y: ArrayLike<number>, opts: ClassificationOptions): void {
    if (y.length !== n) throw new Error(`${n} outputs but ${y.length} labels`);
    if (z.length !== n * k) throw new Error(`${z.length} output values for ${n} rows of ${k} classes`);
    let correct = 0;
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const label = y[i]!;
      if (!Number.isInteger(label) || label < 0 || label >= k) throw new Error(`label ${label} at row ${i} is not a class index in [0, ${k})`);
      const row = i * k;
      let best = 0;
      let m = z[row]!;
      for (let j = 1; j < k; j++) {
        if (z[row + j]! > m) {
          m = z[row + j]!;
          best = j;
        }
      }
      if (best === label) correct++;
      if (opts.fromLogits) {
        let s = 0;
        for (let j = 0; j < k; j++) s += Math.exp(z[row + j]! - m);
        loss += m + Math.log(s) - z[row + label]!;
      } else {
        const p = Math.min(Math.max(z[row + label]!, PROB_EPS), 1 - PROB_EPS);
        loss -= Math.log(p);
      }
    }
    this.correct += correct;
    this.lossSum += loss;
    this.count += n;
  }

  /** Fraction correct; NaN before any sample. */
  accuracy(): number {
    return this.count === 0 ? NaN : this.correct / this.count;
  }

  /** Mean cross-entropy; NaN before any sample. */
  loss(): number {
    return this.count === 0 ? NaN : this.lossSum / this.count;
  }
}
