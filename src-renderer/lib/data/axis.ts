/**
 * A value axis range with room for ticks: 8 % of the span either side, and a
 * span of at least 1 % of the magnitude (or 1 near zero) when all values are
 * equal, so a flat live curve is not a hair-thin scale with a single label.
 */
export function padRange(min: number | null, max: number | null): [number, number] {
  if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  let span = max - min;
  if (span <= 0) {
    span = Math.max(Math.abs(max) * 0.01, 1e-3);
    if (Math.abs(max) < 1e-6) span = 1;
    return [min - span / 2, max + span / 2];
  }
  return [min - span * 0.08, max + span * 0.08];
}
