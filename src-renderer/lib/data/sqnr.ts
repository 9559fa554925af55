/**
 * Per-layer SQNR ranking for Compare: which layer is to blame. Pure, no DOM.
 *
 * SQNR (signal-to-quantization-noise ratio, dB) is 10·log10(Σx² / Σ(x − q(x))²)
 * of a tensor against its fake-quantized copy; lower is worse. The engine
 * stores it on each run_tensors row (weights per layer kernel, activations at
 * layer outputs, plus the model input).
 */
import type { TensorRecord } from '../../../src-main/api/contract.js';

export interface RankInput {
  id: number;
  tensors: readonly TensorRecord[];
  /** The run's summary JSON; `layers[].op` names each layer's op when present. */
  summary?: Record<string, unknown>;
}

export interface LayerRank {
  layer: string;
  op: string | null;
  /** Graph position (first appearance in the runs' tensor rows). */
  order: number;
  /** One entry per run, in the runs' order; null where the run has no such tensor (e.g. kept float). */
  weight: (number | null)[];
  activation: (number | null)[];
  clip: (number | null)[];
  /** Output channels of the weight tensor, if any run has one. */
  channels: number | null;
  /** The ranking key: lowest SQNR of the base run at this layer (any run's if the base has none). */
  worst: number | null;
  /** The model input quantizer (role 'input'): no layer computes it, so it is not a culprit candidate in the charts. */
  isInput: boolean;
}

function minOrNull(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

function opsFromSummary(summary: Record<string, unknown> | undefined): Map<string, string> {
  const ops = new Map<string, string>();
  const layers = summary?.layers;
  if (!Array.isArray(layers)) return ops;
  for (const l of layers) {
    if (l && typeof l === 'object' && typeof (l as { name?: unknown }).name === 'string' && typeof (l as { op?: unknown }).op === 'string') {
      ops.set((l as { name: string }).name, (l as { op: string }).op);
    }
  }
  return ops;
}

function finite(x: number | null): number | null {
  return x === null || !Number.isFinite(x) ? null : x;
}

/**
 * Layers worst first by the base run's SQNR (`baseIndex` into `runs`);
 * layers without any SQNR go last, ties keep graph order. Role 'input' (the
 * model input quantizer) counts as that layer's activation.
 */
export function rankLayers(runs: readonly RankInput[], baseIndex = 0): LayerRank[] {
  const byLayer = new Map<string, LayerRank>();
  const n = runs.length;
  const ops = new Map<string, string>();
  runs.forEach((run, r) => {
    for (const [k, v] of opsFromSummary(run.summary)) if (!ops.has(k)) ops.set(k, v);
    for (const t of run.tensors) {
      if (t.role !== 'weight' && t.role !== 'activation' && t.role !== 'input') continue;
      let row = byLayer.get(t.layer);
      if (!row) {
        row = {
          layer: t.layer,
          op: null,
          order: byLayer.size,
          weight: new Array<number | null>(n).fill(null),
          activation: new Array<number | null>(n).fill(null),
          clip: new Array<number | null>(n).fill(null),
          channels: null,
          worst: null,
          isInput: false,
        };
        byLayer.set(t.layer, row);
      }
      if (t.role === 'weight') {
        row.weight[r] = finite(t.sqnr);
        if (row.channels === null || t.granularity === 'per-channel') row.channels = t.channels;
      } else {
        if (t.role === 'input') row.isInput = true;
        row.activation[r] = finite(t.sqnr);
        if (t.clipRate !== null) row.clip[r] = t.clipRate;
      }
    }
  });
  const base = Math.min(Math.max(0, baseIndex), Math.max(0, n - 1));
  const rows = [...byLayer.values()];
  for (const row of rows) {
    row.op = ops.get(row.layer) ?? null;
    let worst = minOrNull(row.weight[base] ?? null, row.activation[base] ?? null);
    if (worst === null) for (let r = 0; r < n; r++) worst = minOrNull(worst, minOrNull(row.weight[r] ?? null, row.activation[r] ?? null));
    row.worst = worst;
  }
  rows.sort((a, b) => {
    if (a.worst === null || b.worst === null) return a.worst === b.worst ? a.order - b.order : a.worst === null ? 1 : -1;
    return a.worst - b.worst || a.order - b.order;
  });
  return rows;
}

/**
 * The rows an SQNR chart plots: for activations, the model input is left
 * out (it is quantized once on its own grid from the raw data and scores
 * far above every layer, ~145 dB against 30-40, which would squash the
 * chart); the view says which rows were left out and their figures.
 */
export function sqnrChartRows(ranking: readonly LayerRank[], role: 'weight' | 'activation'): { rows: LayerRank[]; excluded: LayerRank[] } {
  if (role === 'weight') return { rows: [...ranking], excluded: [] };
  return { rows: ranking.filter((r) => !r.isInput), excluded: ranking.filter((r) => r.isInput) };
}

/** uPlot's aligned data for one role: x = rank position, one series per run. */
export function sqnrSeries(ranking: readonly LayerRank[], role: 'weight' | 'activation', runCount: number): [number[], ...(number | null)[][]] {
  const x = ranking.map((_, i) => i);
  const series: (number | null)[][] = [];
  for (let r = 0; r < runCount; r++) series.push(ranking.map((row) => (role === 'weight' ? row.weight[r] : row.activation[r]) ?? null));
  return [x, ...series];
}

/** Whether any run has an SQNR for this role at all (e.g. no weight SQNR in a float run). */
export function hasRole(ranking: readonly LayerRank[], role: 'weight' | 'activation'): boolean {
  return ranking.some((row) => (role === 'weight' ? row.weight : row.activation).some((v) => v !== null));
}

/** The run with the lowest quantized accuracy: where a culprit hunt starts. Index into runs; 0 if none has one. */
export function worstRunIndex(runs: readonly { quantAccuracy: number | null; kind: string }[]): number {
  let best = -1;
  let bestAcc = Infinity;
  runs.forEach((r, i) => {
    if (r.kind !== 'float' && r.quantAccuracy !== null && r.quantAccuracy < bestAcc) {
      bestAcc = r.quantAccuracy;
      best = i;
    }
  });
  return best < 0 ? 0 : best;
}
