/**
 * Range choice on one channel's histogram: percentile, MSE and entropy (KL).
 *
 * Inputs: `counts` over `bins` equal bins from `lo` with `width`, a flag `abs`
 * (the histogram holds |x|, `lo` = 0, and the result is symmetric `[−t, t]`),
 * and the exact finite data extremes `dataMin`, `dataMax`. Every result is
 * clamped to the data's own span: clipping beyond the data never helps.
 * Values are treated as spread uniformly inside each bin.
 *
 * Candidate ranges (mse, entropy):
 * - abs: thresholds `t = i · width`, `i = 1 … bins` (entropy: `i ≥` its number
 *   of quantized bins), the last one being the data's max |x|.
 * - signed: a sequence of windows `[a, b)` of bins, starting with all bins and
 *   removing one edge bin at a time from the side whose clipped tail mass would
 *   stay smaller (ties: the low side) — windows that clip both tails about
 *   equally, like torch.ao's `_non_linear_param_search`, which instead steps by
 *   quantiles and stops at the first increase. Here every window is scored and
 *   the global minimum wins.
 *
 * Search (mse, entropy): coarse to fine. With K candidates, every
 * `⌈K / 256⌉`-th one is scored (plus the last), then every candidate within one
 * stride of the best coarse one; the best of those wins. This keeps per-channel
 * searches at ~300 scores per channel instead of K (= bins) and finds the
 * global minimum whenever the score is unimodal at the stride's scale.
 */
import type { RangeSpec } from '../qparams.js';
import { channelQParams } from '../qparams.js';

export interface ChannelHistogram {
  counts: Float64Array;
  lo: number;
  width: number;
  abs: boolean;
  dataMin: number;
  dataMax: number;
}

type Range = [number, number];

/** Coarse candidates scored before refining around the best (see the module doc). */
export const COARSE_CANDIDATES = 256;

/**
 * Index of the (approximately, see the module doc) smallest `score(k)` for
 * k in [0, K); ties keep the lower index. -1 when K = 0.
 */
export function coarseToFineArgmin(K: number, score: (k: number) => number): number {
  if (K <= 0) return -1;
  const stride = Math.max(1, Math.ceil(K / COARSE_CANDIDATES));
  const seen = new Map<number, number>();
  const at = (k: number) => {
    let v = seen.get(k);
    if (v === undefined) {
      v = score(k);
      seen.set(k, v);
    }
    return v;
  };
  let best = 0;
  let bestV = at(0);
  const consider = (k: number) => {
    const v = at(k);
    if (v < bestV || (v === bestV && k < best)) {
      best = k;
      bestV = v;
    }
  };
  for (let k = stride; k < K; k += stride) consider(k);
  consider(K - 1);
  const centre = best;
  for (let k = Math.max(0, centre - stride + 1); k < Math.min(K, centre + stride); k++) consider(k);
  return best;
}

function dataRange(h: ChannelHistogram): Range {
  if (!h.abs) return [h.dataMin, h.dataMax];
  const a = Math.max(Math.abs(h.dataMin), Math.abs(h.dataMax));
  return [-a, a];
}

function clampToData(h: ChannelHistogram, r: Range): Range {
  const [dmin, dmax] = dataRange(h);
  const lo = Math.min(Math.max(r[0], dmin), dmax);
  const hi = Math.max(Math.min(r[1], dmax), dmin);
  return lo <= hi ? [lo, hi] : [dmin, dmax];
}

function sum(c: Float64Array): number {
  let s = 0;
  for (let i = 0; i < c.length; i++) s += c[i]!;
  return s;
}

/**
 * The value below which `target` of the histogram's mass lies, interpolating
 * linearly inside the bin where the cumulative count reaches `target`.
 */
export function histQuantile(counts: Float64Array, lo: number, width: number, target: number): number {
  let cum = 0;
  let lastNonZero = -1;
  for (let b = 0; b < counts.length; b++) {
    const n = counts[b]!;
    if (n <= 0) continue;
    lastNonZero = b;
    if (cum + n >= target) {
      const f = Math.min(1, Math.max(0, (target - cum) / n));
      return lo + width * (b + f);
    }
    cum += n;
  }
  return lo + width * (lastNonZero + 1);
}

/**
 * Percentile `p` (e.g. 99.99), two-sided: the range keeps `p` % of the mass.
 * - asymmetric (signed histogram): `[Q((100 − p)/2 %), Q(100 − (100 − p)/2 %)]`,
 *   i.e. half of the dropped mass from each tail;
 * - symmetric (|x| histogram): `t = Q_|x|(p %)`, range `[−t, t]`, i.e. the
 *   dropped mass is the largest magnitudes, whichever sign they have.
 * `p = 100` gives the data range exactly.
 */
export function percentileRange(h: ChannelHistogram, p: number): Range {
  const total = sum(h.counts);
  if (p >= 100 || total === 0) return dataRange(h);
  if (h.abs) {
    const t = histQuantile(h.counts, h.lo, h.width, (p / 100) * total);
    return clampToData(h, [-t, t]);
  }
  const tail = ((100 - p) / 200) * total;
  return clampToData(h, [histQuantile(h.counts, h.lo, h.width, tail), histQuantile(h.counts, h.lo, h.width, total - tail)]);
}

/** ∫₀ᵗ (τ − round(τ))² dτ for t ∈ [0, 1]. */
function G(t: number): number {
  return t <= 0.5 ? (t * t * t) / 3 : 1 / 12 + ((t - 1) * (t - 1) * (t - 1)) / 3;
}

/** ∫₀ᵘ (τ − round(τ))² dτ for u ≥ 0: each whole unit contributes 1/12. */
function F(u: number): number {
  const f = Math.floor(u);
  return f / 12 + G(u - f);
}

/**
 * Σ over bins of `count × mean squared error` of fake quant with nudged range
 * `[nmin, nmax]` and step `s`, density uniform within each bin:
 * - below nmin: ∫ (x − nmin)² dx, above nmax: ∫ (x − nmax)² dx (clipping error),
 * - inside: s³ ∫ (u − round(u))² du with u = (x − nmin)/s (rounding error, exact
 *   for the piecewise-uniform density: s²/12 for wide bins, ≈ (x − q(x))² for
 *   narrow ones).
 */
export function expectedSquaredError(counts: Float64Array, lo: number, width: number, nmin: number, nmax: number, s: number): number {
  let total = 0;
  const s3 = s * s * s;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i]!;
    if (n === 0) continue;
    const a = lo + i * width;
    const b = a + width;
    if (width === 0) {
      const d = a < nmin ? a - nmin : a > nmax ? a - nmax : s * ((a - nmin) / s - Math.round((a - nmin) / s));
      total += n * d * d;
      continue;
    }
    let e = 0;
    if (a < nmin) {
      const x1 = Math.min(b, nmin) - nmin;
      const x0 = a - nmin;
      e += (x1 * x1 * x1 - x0 * x0 * x0) / 3;
    }
    if (b > nmax) {
      const x1 = b - nmax;
      const x0 = Math.max(a, nmax) - nmax;
      e += (x1 * x1 * x1 - x0 * x0 * x0) / 3;
    }
    const m0 = Math.max(a, nmin);
    const m1 = Math.min(b, nmax);
    if (m1 > m0) e += s3 * (F((m1 - nmin) / s) - F((m0 - nmin) / s));
    total += (n * e) / width;
  }
  return total;
}

/** Signed windows `[a, b)` as described in the module doc, widest first, down to `minWidth` bins. */
export function balancedWindows(counts: Float64Array, minWidth: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let a = 0;
  let b = counts.length;
  let left = 0;
  let right = 0;
  out.push([a, b]);
  while (b - a > minWidth) {
    if (left + counts[a]! <= right + counts[b - 1]!) left += counts[a++]!;
    else right += counts[--b]!;
    out.push([a, b]);
  }
  return out;
}

/**
 * MSE: the candidate range whose fake quant (after the spec's range adjustment
 * and TF nudge, so exactly what will run) has the least expected squared error
 * over the histogram, clipping included. Symmetric specs search `[−t, t]` on the
 * |x| histogram; there the error of negative values is taken equal to that of
 * positive ones (exact for narrow range; full range has one more negative level,
 * which only lowers the true error).
 */
export function mseRange(h: ChannelHistogram, spec: RangeSpec): Range {
  const { counts, lo, width } = h;
  if (sum(counts) === 0 || width === 0) return dataRange(h);
  const dmax = dataRange(h)[1];
  const score = (r: Range) => {
    const q = channelQParams(r[0], r[1], spec);
    return expectedSquaredError(counts, lo, width, q.nudgedMin, q.nudgedMax, q.scale);
  };
  if (h.abs) {
    // Candidate k: t = (bins − k)·width, widest first (ties keep the widest).
    const n = counts.length;
    const range = (k: number): Range => {
      const t = Math.min((n - k) * width, dmax);
      return [-t, t];
    };
    return range(coarseToFineArgmin(n, (k) => score(range(k))));
  }
  const windows = balancedWindows(counts, 1);
  const range = (k: number) => clampToData(h, [lo + windows[k]![0] * width, lo + windows[k]![1] * width]);
  return range(coarseToFineArgmin(windows.length, (k) => score(range(k))));
}

/** Smoothing for Q where P has mass but Q has none (TensorRT smooths with 1e-4 too). */
const KL_EPS = 1e-4;

/**
 * KL(P‖Q) of one candidate window `[a, b)` (m = b − a bins ≥ nq):
 * - P: the window's counts, with the mass below `a` added to its first bin and
 *   the mass from `b` on added to its last bin (clipped values land on the edge);
 * - Q: the window's own counts (outliers not included) merged into `nq` chunks
 *   `[⌊j·m/nq⌋, ⌊(j+1)·m/nq⌋)`, each chunk's sum spread evenly over the bins of
 *   the chunk where P is non-zero (TensorRT / MXNet give the remainder bins to
 *   the last chunk instead of spreading them);
 * - both normalised to 1; bins with P = 0 contribute 0; Q = 0 under P > 0 is
 *   replaced by 1e-4. Returns Infinity for a window without mass.
 */
export function klDivergence(counts: Float64Array, a: number, b: number, nq: number, below: number, above: number): number {
  const m = b - a;
  let inside = 0;
  for (let k = a; k < b; k++) inside += counts[k]!;
  if (inside === 0) return Infinity;
  const totalP = inside + below + above;
  let kl = 0;
  for (let j = 0; j < nq; j++) {
    const s = a + Math.floor((j * m) / nq);
    const e = a + Math.floor(((j + 1) * m) / nq);
    let chunk = 0;
    let nonZero = 0;
    for (let k = s; k < e; k++) {
      chunk += counts[k]!;
      const p = counts[k]! + (k === a ? below : 0) + (k === b - 1 ? above : 0);
      if (p > 0) nonZero++;
    }
    if (nonZero === 0) continue;
    const qv = chunk / nonZero / inside;
    for (let k = s; k < e; k++) {
      const p = (counts[k]! + (k === a ? below : 0) + (k === b - 1 ? above : 0)) / totalP;
      if (p > 0) kl += p * Math.log(p / (qv > 0 ? qv : KL_EPS));
    }
  }
  return kl;
}

/**
 * TensorRT's entropy calibration: the candidate with the least KL(P‖Q).
 * Quantized bins: `2^(bits−1)` for symmetric specs on the |x| histogram (128 at
 * 8 bits, TensorRT's own setting), `2^bits` for asymmetric specs on the signed
 * histogram. Candidates start at that many histogram bins; when the histogram
 * has no more bins than that, nothing can be gained and the data range is returned.
 * Consequence (as in TensorRT): the range can shrink to at most `nq / bins` of
 * the observed span (|x| max, or max − min), so far outliers with an asymmetric
 * 8-bit spec (nq = 256) need more bins than the default 2048 to clip deeply.
 */
export function entropyRange(h: ChannelHistogram, spec: RangeSpec): Range {
  const { counts, lo, width } = h;
  const n = counts.length;
  const nq = 2 ** (h.abs ? spec.bits - 1 : spec.bits);
  if (sum(counts) === 0 || width === 0 || n <= nq) return dataRange(h);
  const prefix = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) prefix[i + 1] = prefix[i]! + counts[i]!;
  const total = prefix[n]!;
  if (h.abs) {
    // Candidate k keeps i = nq + k bins: t = i·width.
    const k = coarseToFineArgmin(n - nq + 1, (k) => klDivergence(counts, 0, nq + k, nq, 0, total - prefix[nq + k]!));
    const t = (nq + k) * width;
    return clampToData(h, [-t, t]);
  }
  const windows = balancedWindows(counts, nq);
  const k = coarseToFineArgmin(windows.length, (k) => klDivergence(counts, windows[k]![0], windows[k]![1], nq, prefix[windows[k]![0]]!, total - prefix[windows[k]![1]]!));
  return clampToData(h, [lo + windows[k]![0] * width, lo + windows[k]![1] * width]);
}
