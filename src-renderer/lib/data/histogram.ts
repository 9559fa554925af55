/**
 * A tensor's histogram with its quantization: the integer grid, the chosen
 * range and the mass clipped outside it. Pure, no DOM.
 *
 * Grid (TF's unsigned domain, as the engine stores it): q ∈ [qmin, qmax] with
 * qmin = narrowRange ? 1 : 0 and qmax = 2^bits − 1; level q sits at
 * (q − zeroPoint) · scale. Bin i of a histogram covers
 * [lo + i·w, lo + (i+1)·w) with w = (hi − lo) / bins; mass is taken as
 * uniform within a bin when a range edge cuts it.
 */

export interface HistogramData {
  lo: number;
  hi: number;
  rangeMin: number;
  rangeMax: number;
  counts: readonly number[];
}

export interface GridSpec {
  bits: number;
  narrowRange: boolean;
  scale: number;
  zeroPoint: number;
}

export interface ClippedMass {
  below: number;
  above: number;
  total: number;
  /** (below + above) / total; 0 for an empty histogram. */
  fraction: number;
}

/**
 * Mass of the histogram the grid clips: outside [rangeMin − step/2,
 * rangeMax + step/2], as the engine's clip rate counts it (a value within
 * half a step of the grid's end is rounded, not clipped). `step` is the
 * tensor's scale (per-channel: the envelope's); 0 counts from the range itself.
 */
export function clippedMass(h: HistogramData, step = 0): ClippedMass {
  const rangeMin = h.rangeMin - step / 2;
  const rangeMax = h.rangeMax + step / 2;
  const bins = h.counts.length;
  let total = 0;
  let below = 0;
  let above = 0;
  const w = bins > 0 ? (h.hi - h.lo) / bins : 0;
  for (let i = 0; i < bins; i++) {
    const c = h.counts[i]!;
    if (!(c > 0)) continue;
    total += c;
    const a = h.lo + i * w;
    const b = a + w;
    if (w <= 0) continue;
    if (a < rangeMin) below += c * Math.min(1, (Math.min(b, rangeMin) - a) / w);
    if (b > rangeMax) above += c * Math.min(1, (b - Math.max(a, rangeMax)) / w);
  }
  return { below, above, total, fraction: total > 0 ? (below + above) / total : 0 };
}

export function quantLimits(bits: number, narrowRange: boolean): { qmin: number; qmax: number } {
  return { qmin: narrowRange ? 1 : 0, qmax: 2 ** bits - 1 };
}

/**
 * Grid levels to draw between `lo` and `hi`. When there are more than
 * `maxLines` of them (8 bits has 255 steps), every k-th level is drawn and
 * `every` says which k.
 */
export function gridLevels(g: GridSpec, lo: number, hi: number, maxLines = 64): { values: number[]; every: number; levels: number } {
  const { qmin, qmax } = quantLimits(g.bits, g.narrowRange);
  const levels = qmax - qmin + 1;
  if (!(g.scale > 0) || !Number.isFinite(g.scale)) return { values: [], every: 1, levels };
  const first = Math.max(qmin, Math.ceil(lo / g.scale + g.zeroPoint));
  const last = Math.min(qmax, Math.floor(hi / g.scale + g.zeroPoint));
  const visible = Math.max(0, last - first + 1);
  const every = Math.max(1, Math.ceil(visible / Math.max(1, maxLines)));
  const values: number[] = [];
  // Step from the zero point so that 0.0 is always one of the drawn lines.
  const start = g.zeroPoint + Math.ceil((first - g.zeroPoint) / every) * every;
  for (let q = start; q <= last; q += every) values.push((q - g.zeroPoint) * g.scale);
  return { values, every, levels };
}

export interface HistogramBars {
  /** Bin centres. */
  x: number[];
  /** Counts inside the chosen range (null where the bin is clipped). */
  inside: (number | null)[];
  /** Counts of bins (mostly) outside it. */
  clipped: (number | null)[];
  binWidth: number;
}

/**
 * Display bins: merged down to at most `maxBars` (whole groups of the stored
 * bins), split into inside and clipped by where the bin centre falls.
 */
export function histogramBars(h: HistogramData, maxBars = 256): HistogramBars {
  const bins = h.counts.length;
  const group = Math.max(1, Math.ceil(bins / Math.max(1, maxBars)));
  const n = Math.ceil(bins / group);
  const w = bins > 0 ? ((h.hi - h.lo) / bins) * group : 0;
  const x: number[] = [];
  const inside: (number | null)[] = [];
  const clipped: (number | null)[] = [];
  for (let j = 0; j < n; j++) {
    let c = 0;
    for (let i = j * group; i < Math.min(bins, (j + 1) * group); i++) c += h.counts[i]! > 0 ? h.counts[i]! : 0;
    const centre = h.lo + (j + 0.5) * w;
    x.push(centre);
    const out = centre < h.rangeMin || centre > h.rangeMax;
    inside.push(out ? null : c);
    clipped.push(out ? c : null);
  }
  return { x, inside, clipped, binWidth: w };
}

/** "0.12 %" style, with more digits for small clipped masses. */
export function formatFraction(f: number): string {
  if (!Number.isFinite(f)) return '–';
  const p = f * 100;
  if (p === 0) return '0 %';
  if (p < 0.01) return '< 0.01 %';
  return `${p < 1 ? p.toFixed(2) : p.toFixed(1)} %`;
}

/** A per-channel tensor's vectors (runs.channels), as much as the grid needs. */
export interface ChannelVectors {
  scale: readonly number[];
  zeroPoint: readonly number[];
}

/**
 * Channel `c`'s own grid and nudged range for a per-channel tensor: the
 * levels a weight of that channel can take, (q − zp_c)·scale_c for q in
 * [qmin, qmax]. The stored tensor scale of a per-channel run is the
 * envelope's (the widest channel's), which would draw the per-tensor grid.
 * Null when `c` is out of range or the channel has no step.
 */
export function channelGrid(spec: { bits: number; narrowRange: boolean }, ch: ChannelVectors, c: number): { grid: GridSpec; rangeMin: number; rangeMax: number } | null {
  const scale = ch.scale[c];
  const zeroPoint = ch.zeroPoint[c];
  if (scale === undefined || zeroPoint === undefined || !(scale > 0)) return null;
  const { qmin, qmax } = quantLimits(spec.bits, spec.narrowRange);
  return {
    grid: { bits: spec.bits, narrowRange: spec.narrowRange, scale, zeroPoint },
    rangeMin: (qmin - zeroPoint) * scale,
    rangeMax: (qmax - zeroPoint) * scale,
  };
}
