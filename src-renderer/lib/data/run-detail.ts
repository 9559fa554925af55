/**
 * What the run detail panel shows, from a stored run: one row per layer
 * (weight and activation SQNR, clip rate, grids) and, for each accuracy,
 * what exactly it measured (split, sample count, runtime), so figures that
 * disagree elsewhere (an export's runtime, the integer reference) can be
 * told apart.
 */
import type { RunDetail, TensorRecord } from '../../../src-main/api/contract.js';

export interface LayerRow {
  layer: string;
  weight: TensorRecord | null;
  activation: TensorRecord | null;
}

/** Layers in stored order; the model input is a row with an activation only. */
export function layerRows(tensors: readonly TensorRecord[]): LayerRow[] {
  const rows = new Map<string, LayerRow>();
  for (const t of tensors) {
    const row = rows.get(t.layer) ?? { layer: t.layer, weight: null, activation: null };
    if (t.role === 'weight') row.weight = t;
    else if (t.role === 'activation' || t.role === 'input') row.activation ??= t;
    rows.set(t.layer, row);
  }
  return [...rows.values()];
}

const obj = (v: unknown): Record<string, unknown> | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null);

/** "2,000 eval samples (seed 1), fake-quant simulation on onnxruntime": what the run's accuracies measured. */
export function accuracyBasis(run: Pick<RunDetail, 'kind' | 'config' | 'summary'>): string {
  const evaluation = obj(run.summary['evaluation']);
  const evalSummary = obj(run.summary['eval']);
  const count = typeof evalSummary?.['count'] === 'number' ? evalSummary['count'] : run.config.eval.count;
  const runtime = typeof evaluation?.['runtime'] === 'string' ? evaluation['runtime'] : null;
  const what = run.kind === 'float' ? 'float model' : 'float model and the studio simulation of the quantized model (fake quantization)';
  // The float figures of an earlier run with the same float graph, samples and session (engine/native/float-reference.ts).
  const floatFrom = typeof evaluation?.['floatFrom'] === 'number' ? `; float figures from run ${evaluation['floatFrom']} (same float graph, samples and session)` : '';
  // An export's verification simulates the written file (half-even rounding, int32 biases) on the same samples: a few may differ.
  return `${count.toLocaleString('en-US')} eval samples (seed ${run.config.eval.seed}), ${what}${runtime ? ` on ${runtime}` : ''}${floatFrom}`;
}

/** Top-level summary entries worth a line each (numbers and words; nested records are shown by their own sections). */
export function summaryLines(summary: Record<string, unknown>): [string, string][] {
  const out: [string, string][] = [];
  const timing = (key: string, label: string) => {
    const s = obj(summary[key]);
    if (!s) return;
    const parts: string[] = [];
    if (typeof s['count'] === 'number') parts.push(`${s['count']} samples`);
    if (typeof s['runtime'] === 'string') parts.push(`on ${s['runtime']}`);
    if (typeof s['batchSize'] === 'number') parts.push(`batch ${s['batchSize']}`);
    if (typeof s['seconds'] === 'number') parts.push(`${s['seconds'].toFixed(2)} s`);
    if (parts.length > 0) out.push([label, parts.join(', ')]);
  };
  timing('calibration', 'Calibration');
  timing('evaluation', 'Evaluation');
  const folded = summary['folded'];
  if (Array.isArray(folded) && folded.length > 0) out.push(['BatchNorm folded', folded.map((f) => `${obj(f)?.['batchNorm']} → ${obj(f)?.['layer']}`).join(', ')]);
  const notes = summary['notes'];
  if (Array.isArray(notes)) for (const n of notes) if (typeof n === 'string') out.push(['Note', n]);
  for (const key of ['trainedModelName', 'backend'] as const) if (typeof summary[key] === 'string') out.push([key === 'backend' ? 'Backend' : 'Trained model', summary[key] as string]);
  return out;
}
