/**
 * A comparison as files to keep or send: one self-contained HTML page (the
 * charts as PNG data URLs, the tables, each run's config and the
 * verification of its exports; no script, no outside reference) and CSV of
 * the per-layer and per-channel figures. Pure, no DOM: the view gathers the
 * chart images and channel vectors and calls these.
 */
import type { CompareRun, ExportRecord, RunChannels } from '../../../src-main/api/contract.js';
import { configDiff } from './config-diff.js';
import { readAudit, readVerification } from './export-format.js';
import { accuracyDelta, describeConfig, formatAccuracy, formatDelta } from './format.js';
import { accuracyBasis } from './run-detail.js';
import { rankLayers } from './sqnr.js';

/** RFC 4180: quote a field holding a comma, quote or line break; double the quotes. */
export function csvField(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csv(header: readonly string[], rows: readonly (readonly (string | number | boolean | null | undefined)[])[]): string {
  return [header, ...rows].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}

/** One line per stored tensor of each run. */
export function perLayerCsv(runs: readonly CompareRun[]): string {
  const rows = runs.flatMap((run) =>
    run.tensors.map((t) => [run.id, run.name, t.layer, t.role, t.granularity, t.bits, t.symmetric, t.narrowRange, t.channels, t.min, t.max, t.scale, t.zeroPoint, t.sqnr, t.clipRate]),
  );
  return csv(['run_id', 'run_name', 'layer', 'role', 'granularity', 'bits', 'symmetric', 'narrow_range', 'channels', 'min', 'max', 'scale', 'zero_point', 'sqnr_db', 'clip_rate'], rows);
}

/** One line per output channel of each per-channel weight: `channels` maps layer -> runs.channels answer. */
export function perChannelCsv(runs: readonly CompareRun[], channels: ReadonlyMap<string, readonly RunChannels[]>): string {
  const names = new Map(runs.map((r) => [r.id, r.name]));
  const rows: (string | number | null)[][] = [];
  for (const [layer, perRun] of channels) {
    for (const rc of perRun) {
      const c = rc.channels;
      if (!c) continue;
      for (let k = 0; k < c.scale.length; k++) rows.push([rc.runId, names.get(rc.runId) ?? '', layer, k, c.min[k]!, c.max[k]!, c.scale[k]!, c.zeroPoint[k]!, c.sqnr ? c.sqnr[k]! : null]);
    }
  }
  return csv(['run_id', 'run_name', 'layer', 'channel', 'min', 'max', 'scale', 'zero_point', 'sqnr_db'], rows);
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

export interface ReportChart {
  title: string;
  /** data:image/png;base64,… */
  dataUrl: string;
}

export interface ReportInput {
  runs: readonly CompareRun[];
  /** Exports per run id (exports.list). */
  exports: ReadonlyMap<number, readonly ExportRecord[]>;
  charts: readonly ReportChart[];
  generatedAt: string;
}

const db = (x: number | null | undefined) => (x === null || x === undefined ? '–' : `${x.toFixed(1)}`);

function table(head: readonly string[], rows: readonly (readonly string[])[], cls = ''): string {
  const th = head.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table class="${cls}"><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** The whole comparison as one HTML document. */
export function reportHtml(input: ReportInput): string {
  const { runs } = input;
  const names = runs.map((r) => r.name);
  const diff = configDiff(runs);
  const ranking = rankLayers(runs, 0);
  const title = `Comparison of ${names.join(', ')}`;

  const accuracy = table(
    ['Run', 'Kind', 'Float acc', 'Quant acc', 'Δ', 'Measured on'],
    runs.map((r) => [`#${r.id} ${r.name}`, r.kind.toUpperCase(), formatAccuracy(r.floatAccuracy), r.kind === 'float' ? '' : formatAccuracy(r.quantAccuracy), formatDelta(accuracyDelta(r.floatAccuracy, r.quantAccuracy)), accuracyBasis(r)]),
  );
  const diffTable = diff.length === 0 ? '<p>The configs are identical.</p>' : table(['Field', ...names], diff.map((d) => [d.label, ...d.values]));
  const configs = runs.map((r) => `<h3>#${r.id} ${escapeHtml(r.name)}</h3><pre>${escapeHtml(describeConfig(r.kind, r.config))}</pre>`).join('\n');
  const layers = table(
    ['Layer', ...names.flatMap((n) => [`${n}: W SQNR dB`, `${n}: A SQNR dB`, `${n}: A clip %`])],
    ranking.map((row) => [row.layer, ...runs.flatMap((_, i) => [db(row.weight[i]), db(row.activation[i]), row.clip[i] === null || row.clip[i] === undefined ? '–' : (row.clip[i]! * 100).toPrecision(2)])]),
    'layers',
  );
  const verification = runs
    .map((r) => {
      const list = input.exports.get(r.id) ?? [];
      if (list.length === 0) return `<h3>#${r.id} ${escapeHtml(r.name)}</h3><p>No exports.</p>`;
      const rows = list.map((e) => {
        const v = readVerification(e);
        const a = readAudit(e);
        return [
          e.format,
          e.path,
          String(e.size),
          v ? `${formatAccuracy(v.runtimeAccuracy)} in ${v.runtime}` : 'not verified',
          v ? formatAccuracy(v.simulationAccuracy) : '–',
          v ? formatAccuracy(v.agreement) : '–',
          v ? String(v.count) : '–',
          a.ok ? 'passed' : `failed: ${a.problems.join('; ')}`,
        ];
      });
      return `<h3>#${r.id} ${escapeHtml(r.name)}</h3>${table(['Format', 'File', 'Bytes', 'Runtime accuracy', 'Simulation', 'Top-1 agreement', 'Eval samples', 'Audit'], rows)}`;
    })
    .join('\n');
  const charts = input.charts.map((c) => `<figure><img alt="${escapeHtml(c.title)}" src="${c.dataUrl}"><figcaption>${escapeHtml(c.title)}</figcaption></figure>`).join('\n');

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>${escapeHtml(title)}</title>
<style>
body{font:13px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:6px 0 14px}th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f3f3f3}pre{background:#f7f7f7;padding:6px;white-space:pre-wrap}figure{margin:8px 0}img{max-width:100%;border:1px solid #ddd}
h2{margin-top:22px;border-bottom:1px solid #ddd}
</style></head>
<body>
<h1>${escapeHtml(title)}</h1>
<p>Quantization Calibration Studio report, ${escapeHtml(input.generatedAt)}. ${runs.length} runs; per-layer and per-channel figures are in the CSV files saved with it.</p>
<h2>Accuracy</h2>
${accuracy}
<h2>Config: what differs</h2>
${diffTable}
<h2>Configs</h2>
${configs}
<h2>Charts</h2>
${charts || '<p>No chart was drawn.</p>'}
<h2>SQNR per layer, worst first</h2>
${layers}
<h2>Verification of exports</h2>
${verification}
</body></html>
`;
}
