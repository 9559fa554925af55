/**
 * Per-channel histograms with equal-width bins, filled in one JS pass over a
 * batch's `dataSync()` values (no per-element tensor ops).
 *
 * Channel `c` covers `[lo[c], lo[c] + bins · width[c]]`; bin `k` is
 * `[lo + k·width, lo + (k+1)·width)`, the last bin closed. Values outside the
 * span are counted in the nearest edge bin (a two-pass observer's pass 1 may
 * see values pass 0 did not; streaming histograms grow first, so they never
 * clamp). NaN and ±Inf are never binned. In `abs` mode |x| is binned and
 * `lo` is 0 (the symmetric estimators' histogram of magnitudes).
 *
 * Growing (streaming): when a batch exceeds the span, the histogram is widened
 * by an integer factor `k` with the old bin edges kept on the new grid, so
 * every old bin falls entirely in one new bin and the merge is exact: old bin
 * `i` goes to new bin `⌊(i + a) / k⌋`, where `a` old-bin widths are added below.
 * (torch.ao's HistogramObserver instead spreads old counts over overlapping new
 * bins, an approximation.) A histogram whose span is a single value (width 0)
 * holds all its mass at `lo`; growing it moves that mass into the bin of `lo`.
 */
import { channelLayout } from '../spec.js';

export class ChannelHistograms {
  readonly lo: Float64Array;
  /** NaN until the channel's span is set. */
  readonly width: Float64Array;
  readonly counts: Float64Array;

  constructor(
    readonly channels: number,
    readonly bins: number,
    readonly abs: boolean,
  ) {
    this.lo = new Float64Array(channels);
    this.width = new Float64Array(channels).fill(NaN);
    this.counts = new Float64Array(channels * bins);
  }

  isSet(c: number): boolean {
    return !Number.isNaN(this.width[c]!);
  }

  /** Fixes channel `c`'s span to `[lo, hi]` (abs mode: `[0, hi]`); counts are kept as they are. */
  setSpan(c: number, lo: number, hi: number): void {
    const l = this.abs ? 0 : lo;
    this.lo[c] = l;
    this.width[c] = Math.max(0, hi - l) / this.bins;
  }

  /** Channel `c`'s counts (a view). */
  channel(c: number): Float64Array {
    return this.counts.subarray(c * this.bins, (c + 1) * this.bins);
  }

  total(c: number): number {
    const h = this.channel(c);
    let s = 0;
    for (let i = 0; i < h.length; i++) s += h[i]!;
    return s;
  }

  /** Widens channel `c` (exactly, see the module doc) until it covers `[lo, hi]`; sets the span if unset. */
  grow(c: number, lo: number, hi: number): void {
    if (this.abs) lo = 0;
    if (!this.isSet(c)) return this.setSpan(c, lo, hi);
    const n = this.bins;
    const L = this.lo[c]!;
    const w = this.width[c]!;
    const h = this.channel(c);
    if (w === 0) {
      if (lo >= L && hi <= L) return;
      const mass = this.total(c);
      h.fill(0);
      const nl = Math.min(lo, L);
      this.setSpan(c, nl, Math.max(hi, L));
      h[this.binOf(c, L)] = mass;
      return;
    }
    const top = L + n * w;
    const extLo = lo < L ? Math.ceil((L - lo) / w) : 0;
    const extHi = hi > top ? Math.ceil((hi - top) / w) : 0;
    if (extLo === 0 && extHi === 0) return;
    const k = Math.ceil((n + extLo + extHi) / n);
    const spare = k * n - n - extLo - extHi;
    const a = extLo + (extLo === 0 ? 0 : extHi === 0 ? spare : Math.floor(spare / 2));
    const old = Float64Array.from(h);
    h.fill(0);
    for (let i = 0; i < n; i++) if (old[i] !== 0) h[Math.floor((i + a) / k)]! += old[i]!;
    this.lo[c] = L - a * w;
    this.width[c] = k * w;
  }

  private binOf(c: number, v: number): number {
    const w = this.width[c]!;
    if (!(w > 0)) return 0;
    const t = (v - this.lo[c]!) / w;
    return t >= this.bins ? this.bins - 1 : t > 0 ? Math.floor(t) : 0;
  }

  /**
   * Adds row-major `data` of `shape`, channels along `axis` (undefined: one
   * channel). Channels whose span is unset are skipped. Returns whether any
   * NaN/±Inf was met.
   */
  fill(data: ArrayLike<number>, shape: readonly number[], axis: number | undefined): boolean {
    const { outer, channels, inner } = channelLayout(shape, axis);
    if (channels !== this.channels) throw new Error(`histogram has ${this.channels} channels, data has ${channels}`);
    const n = this.bins;
    const last = n - 1;
    const counts = this.counts;
    const abs = this.abs;
    const lo = this.lo;
    // Bin index by division, as binOf does: v·(1/w) can land a value on a bin edge one bin low,
    // and histograms merged on a widened grid must bin edges exactly as a direct fill does.
    const div = new Float64Array(channels);
    const set = new Uint8Array(channels);
    for (let c = 0; c < channels; c++) {
      const w = this.width[c]!;
      set[c] = Number.isNaN(w) ? 0 : 1;
      div[c] = w > 0 ? w : Infinity;
    }
    let nonFinite = false;
    let i = 0;
    if (inner === 1 && channels > 1) {
      for (let o = 0; o < outer; o++) {
        for (let c = 0; c < channels; c++, i++) {
          let v = data[i]!;
          if (v - v !== 0) {
            nonFinite = true;
            continue;
          }
          if (set[c] === 0) continue;
          if (abs && v < 0) v = -v;
          const t = (v - lo[c]!) / div[c]!;
          counts[c * n + (t >= last ? last : t > 0 ? t | 0 : 0)]!++;
        }
      }
      return nonFinite;
    }
    for (let o = 0; o < outer; o++) {
      for (let c = 0; c < channels; c++) {
        const base = c * n;
        const l = lo[c]!;
        const dv = div[c]!;
        const on = set[c] === 1;
        for (let j = 0; j < inner; j++, i++) {
          let v = data[i]!;
          if (v - v !== 0) {
            nonFinite = true;
            continue;
          }
          if (!on) continue;
          if (abs && v < 0) v = -v;
          const t = (v - l) / dv;
          counts[base + (t >= last ? last : t > 0 ? t | 0 : 0)]!++;
        }
      }
    }
    return nonFinite;
  }
}
