/**
 * A sensitivity run's layers as the views show them: ranked worst first (the
 * largest accuracy drop with the layer quantized alone, then the lowest
 * output SQNR; an exact case counts as infinite SQNR), each case as an
 * accuracy change from float, and bar lengths for the chart. Pure, no DOM.
 */
import type { SensitivityCase, SensitivityLayer } from '../../../src-main/api/contract.js';

export type SensitivityCaseKey = 'quantizedAlone' | 'floatAlone' | 'weightsAlone' | 'activationAlone';

export const SENSITIVITY_CASES: readonly { key: SensitivityCaseKey; label: string; hint: string }[] = [
  { key: 'quantizedAlone', label: 'Quantized alone', hint: 'Only this layer quantized (weights and output), the rest float' },
  { key: 'floatAlone', label: 'Float alone', hint: 'Everything quantized but this layer, kept float' },
  { key: 'weightsAlone', label: 'Weights alone', hint: "Only this layer's weights quantized" },
  { key: 'activationAlone', label: 'Activation alone', hint: "Only this layer's output quantized" },
];

export interface SensitivityRow {
  layer: string;
  op: string;
  /** Percentage points lost with the layer quantized alone (negative: gained). */
  drop: number;
  cases: Record<SensitivityCaseKey, SensitivityCase | null>;
}

const sqnrOf = (c: SensitivityCase | null) => (c === null ? Infinity : (c.sqnr ?? Infinity));

export function rankSensitivity(layers: readonly SensitivityLayer[], floatAccuracy: number): SensitivityRow[] {
  return [...layers]
    .sort((a, b) => a.quantizedAlone.accuracy - b.quantizedAlone.accuracy || sqnrOf(a.quantizedAlone) - sqnrOf(b.quantizedAlone) || a.position - b.position)
    .map((l) => ({
      layer: l.layer,
      op: l.op,
      drop: (floatAccuracy - l.quantizedAlone.accuracy) * 100,
      cases: { quantizedAlone: l.quantizedAlone, floatAlone: l.floatAlone, weightsAlone: l.weightsAlone, activationAlone: l.activationAlone },
    }));
}

/** "86.33 % (−0.33)" with the change from float in points; "–" for a case the layer does not have. */
export function caseAccuracy(c: SensitivityCase | null, floatAccuracy: number): string {
  if (!c) return '–';
  const d = (c.accuracy - floatAccuracy) * 100;
  const sign = d > 0.004 ? '+' : d < -0.004 ? '−' : '±';
  return `${(c.accuracy * 100).toFixed(2)} % (${sign}${Math.abs(d).toFixed(2)})`;
}

export function caseSqnr(c: SensitivityCase | null): string {
  if (!c) return '–';
  return c.sqnr === null ? 'exact' : `${c.sqnr.toFixed(1)} dB`;
}

/** The chart's SQNR axis ends at the highest finite case SQNR (at most `cap` dB); exact cases and those past it draw full. */
export function sqnrScale(rows: readonly SensitivityRow[], cap = 80): number {
  let top = 0;
  for (const r of rows) for (const c of Object.values(r.cases)) if (c && c.sqnr !== null) top = Math.max(top, c.sqnr);
  return Math.max(10, Math.min(cap, Math.ceil(top / 10) * 10));
}

/** 0..1 bar length of a case's SQNR on a [0, top] dB axis. */
export function barLength(c: SensitivityCase | null, top: number): number {
  if (!c) return 0;
  if (c.sqnr === null) return 1;
  return Math.max(0, Math.min(1, c.sqnr / top));
}
