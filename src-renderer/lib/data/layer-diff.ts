/**
 * The layer-by-layer diff of an export (src-main/export/diff/layer-diff.ts)
 * read from its stored verification JSON, checked field by field (older
 * exports have none), and the chart's series. Pure, no DOM.
 */
import type { ExportRecord } from '../../../src-main/api/contract.js';

export interface LayerDiffRow {
  /** 1-based position in the model. */
  index: number;
  layer: string;
  tensor: string;
  values: number;
  maxSteps: number;
  /** dB; null when the file equals the simulation. */
  sqnr: number | null;
  offByOne: number;
  beyondOne: number;
  /** More than the tolerance off. */
  diverges: boolean;
}

export interface LayerDiffView {
  format: string;
  samples: number;
  tolerance: number;
  rows: LayerDiffRow[];
  firstDivergence: string | null;
  /** Why the export has no diff (recorded instead of failing the export). */
  unavailable: string | null;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The diff of an export's verification, or null when it has none (or it does not read). */
export function readLayerDiff(record: Pick<ExportRecord, 'verification'>): LayerDiffView | null {
  const d = record.verification['layerDiff'];
  if (!d || typeof d !== 'object' || Array.isArray(d)) return null;
  const r = d as Record<string, unknown>;
  const tolerance = num(r['tolerance']) ?? 1;
  if (!Array.isArray(r['layers'])) return null;
  const rows: LayerDiffRow[] = [];
  for (const raw of r['layers'] as unknown[]) {
    if (!raw || typeof raw !== 'object') return null;
    const l = raw as Record<string, unknown>;
    const maxSteps = num(l['maxSteps']);
    if (typeof l['layer'] !== 'string' || typeof l['tensor'] !== 'string' || maxSteps === null) return null;
    rows.push({
      index: rows.length + 1,
      layer: l['layer'],
      tensor: l['tensor'],
      values: num(l['values']) ?? 0,
      maxSteps,
      sqnr: num(l['sqnr']),
      offByOne: num(l['offByOne']) ?? 0,
      beyondOne: num(l['beyondOne']) ?? 0,
      diverges: maxSteps > tolerance,
    });
  }
  return {
    format: typeof r['format'] === 'string' ? r['format'] : '',
    samples: num(r['samples']) ?? 0,
    tolerance,
    rows,
    firstDivergence: typeof r['firstDivergence'] === 'string' ? r['firstDivergence'] : null,
    unavailable: typeof r['unavailable'] === 'string' ? r['unavailable'] : null,
  };
}

/** uPlot's columns: x = position in the model (0-based), max |diff| in steps, and the share off by one or more, in %. */
export function layerDiffSeries(rows: readonly LayerDiffRow[]): [number[], number[], number[]] {
  return [rows.map((_, i) => i), rows.map((r) => r.maxSteps), rows.map((r) => (r.offByOne + r.beyondOne) * 100)];
}

/** The verdict in words. */
export function layerDiffVerdict(d: LayerDiffView): string {
  const step = d.tolerance === 1 ? 'step' : 'steps';
  if (d.unavailable) return `No layer-by-layer diff: ${d.unavailable}`;
  return d.firstDivergence
    ? `The file and the simulation part at layer ${d.firstDivergence}: more than ${d.tolerance} ${step} off.`
    : `Every quantized tensor within ${d.tolerance} ${step} of the simulation.`;
}

/**
 * The graph view's "exported file vs simulation" overlay (graph/overlays.ts
 * OverlaySource): SQNR of the file's tensor against the simulation's by
 * layer, from the newest of a run's exports that carries a diff; an exact
 * tensor is +∞ (drawn as the best, written "exact").
 */
export function layerDiffOverlayValues(records: readonly Pick<ExportRecord, 'id' | 'verification'>[]): { exportId: number | null; values: Map<string, number> } {
  const newest = [...records].sort((x, y) => y.id - x.id).find((r) => readLayerDiff(r) !== null);
  const d = newest ? readLayerDiff(newest)! : null;
  return { exportId: newest?.id ?? null, values: new Map((d?.rows ?? []).map((r) => [r.layer, r.sqnr ?? Infinity])) };
}
