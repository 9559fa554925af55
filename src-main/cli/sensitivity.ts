/**
 * `studio sensitivity`: a sensitivity run from the command line, and how
 * `studio sensitivity` and `studio runs show` print one: the baselines, then
 * the layers ranked by the accuracy each loses quantized alone (then by
 * output SQNR, lowest first), each with its four cases.
 */
import type { Command } from 'commander';
import type { RunDetail, SensitivityCase, SensitivityLayer } from '../api/contract.js';
import { formatTable } from './format.js';

const pct = (x: number | null | undefined) => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(2)}%`);
const cell = (c: SensitivityCase | null, floatAccuracy: number) =>
  c ? `${pct(c.accuracy)} (${signed((c.accuracy - floatAccuracy) * 100)}) ${c.sqnr === null ? 'exact' : `${c.sqnr.toFixed(1)} dB`}` : '—';
const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(2)}`;

/** Worst first: the largest accuracy drop quantized alone, ties by the lower output SQNR (exact counts as highest). */
export function rankLayers(layers: readonly SensitivityLayer[]): SensitivityLayer[] {
  const sqnr = (c: SensitivityCase) => c.sqnr ?? Infinity;
  return [...layers].sort((a, b) => a.quantizedAlone.accuracy - b.quantizedAlone.accuracy || sqnr(a.quantizedAlone) - sqnr(b.quantizedAlone) || a.position - b.position);
}

export function formatSensitivity(run: RunDetail, layers: readonly SensitivityLayer[]): string {
  if (run.status !== 'done') return `run ${run.id} ${run.name}: ${run.status}${run.error ? ` — ${run.error}` : ''}`;
  const s = (run.summary as { sensitivity?: { subset: number; quantizedSqnr: number | null; cases: number; secondsPerCase: number; threads: number } }).sensitivity;
  const float = run.floatAccuracy ?? 0;
  const c = run.config;
  const lines = [
    `run ${run.id}  ${run.name}  (sensitivity)`,
    `weights ${c.weights.bits}-bit ${c.weights.granularity}; activations ${c.activations.bits}-bit ${c.activations.granularity}; estimator ${c.estimator.kind}${c.estimator.weights ? ` (weights ${c.estimator.weights})` : ''}`,
    `on the first ${s?.subset ?? '?'} eval samples: float ${pct(run.floatAccuracy)}, everything quantized ${pct(run.quantAccuracy)} (output SQNR ${s?.quantizedSqnr === null || s?.quantizedSqnr === undefined ? 'exact' : `${s.quantizedSqnr.toFixed(1)} dB`})`,
    `${s?.cases ?? '?'} cases, ${((s?.secondsPerCase ?? 0) * 1000).toFixed(0)} ms each (${s?.threads ?? '?'} threads)`,
    '',
    'cases: accuracy (change from float) and output SQNR against float',
    formatTable(
      ['layer', 'op', 'quantized alone', 'float alone (rest quantized)', 'weights alone', 'activation alone'],
      rankLayers(layers).map((l) => [l.layer, l.op, cell(l.quantizedAlone, float), cell(l.floatAlone, float), cell(l.weightsAlone, float), cell(l.activationAlone, float)]),
    ),
  ];
  const worst = rankLayers(layers)[0];
  if (worst) lines.push(`most sensitive: ${worst.layer}; try \`studio calibrate --config <this run> --override ${worst.layer}:float\` or ${worst.layer}:w8a16`);
  for (const n of (run.summary as { notes?: string[] }).notes ?? []) lines.push(`note: ${n}`);
  return lines.join('\n');
}

export function sensitivityOptions(cmd: Command): Command {
  return cmd.option('--subset <n>', 'eval samples each case runs on (the first N of the eval split)', '500');
}
