/**
 * The per-channel range chart of one layer: one bar per output channel from
 * its min to its max, and each run's per-tensor range drawn across. Pure, no DOM.
 */

export interface RangeLine {
  runId: number;
  min: number;
  max: number;
  granularity: 'per-tensor' | 'per-channel';
}

export interface ChannelBars {
  /** Channel index per bar. */
  x: number[];
  min: number[];
  max: number[];
  /** Bars drawn: the channel count of the vectors (0 without per-channel data). */
  count: number;
  /** Per-tensor ranges of the runs, drawn as horizontal lines. */
  lines: RangeLine[];
  /** y extent covering bars and lines, with a little headroom. */
  yRange: [number, number];
  /** How much narrower the median channel range is than the per-tensor range (1 = as wide; 0.1 = ten times narrower). */
  medianWidthRatio: number | null;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Bars from per-channel vectors (null: the layer has none in the chosen run)
 * and lines from every run's per-tensor range of that tensor. A min above
 * its max (a corrupt vector) is drawn as an empty bar at min.
 */
export function channelBars(vectors: { min: readonly number[]; max: readonly number[] } | null, lines: readonly RangeLine[]): ChannelBars {
  const count = vectors ? Math.min(vectors.min.length, vectors.max.length) : 0;
  const x = new Array<number>(count);
  const mins = new Array<number>(count);
  const maxs = new Array<number>(count);
  let lo = Infinity;
  let hi = -Infinity;
  const widths: number[] = [];
  for (let i = 0; i < count; i++) {
    const a = vectors!.min[i]!;
    const b = Math.max(a, vectors!.max[i]!);
    x[i] = i;
    mins[i] = a;
    maxs[i] = b;
    if (a < lo) lo = a;
    if (b > hi) hi = b;
    widths.push(b - a);
  }
  for (const l of lines) {
    if (l.min < lo) lo = l.min;
    if (l.max > hi) hi = l.max;
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    lo = -1;
    hi = 1;
  }
  if (lo === hi) {
    lo -= 1;
    hi += 1;
  }
  const pad = (hi - lo) * 0.05;
  const envelope = lines.length > 0 ? Math.max(...lines.map((l) => l.max - l.min)) : hi - lo;
  const med = median(widths);
  return {
    x,
    min: mins,
    max: maxs,
    count,
    lines: [...lines],
    yRange: [lo - pad, hi + pad],
    medianWidthRatio: med === null || envelope <= 0 ? null : med / envelope,
  };
}
