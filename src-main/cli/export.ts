/**
 * `studio export RUN --format onnx|tflite|tfjs|params --out PATH [--verify] [--overwrite] [--diff] [--json]`:
 * starts an export job through the API (exports.start), draws its progress
 * on one line, cancels it on Ctrl-C (no file left, nothing stored), then
 * prints the audit and the verification against the studio's simulation
 * (with --diff, the layer-by-layer diff of the file's quantized tensors).
 */
import path from 'node:path';
import { Command, Option } from 'commander';
import type { EventName, ExportFailed, ExportProgress, ExportRecord } from '../api/contract.js';
import { EXPORT_FORMATS, type ExportFormat } from '../export/types.js';
import type { Studio } from '../studio.js';
import { callApi, print, withStudio } from './common.js';
import { CliError, EXIT, InterruptedError, UsageError } from './errors.js';
import { progressDisplay } from './progress.js';
import { formatTable } from './format.js';
import type { LayerDiffReport } from '../export/diff/layer-diff.js';

interface ExportCliOptions {
  format: ExportFormat;
  out: string;
  verify?: boolean;
  overwrite?: boolean;
  int8Io?: boolean;
  diff?: boolean;
  json?: boolean;
}

const pct = (v: unknown) => (typeof v === 'number' ? `${(v * 100).toFixed(2)}%` : '—');

export function formatExport(r: ExportRecord): string {
  const v = r.verification as Record<string, unknown>;
  const a = r.audit as { ok?: boolean; checked?: unknown[]; problems?: string[] };
  const lines = [`wrote ${r.format} ${r.path} (${r.size} bytes, sha256 ${r.sha256.slice(0, 16)}…)`];
  lines.push(`audit: ${a.ok === false ? 'FAILED' : 'ok'}${Array.isArray(a.checked) ? `, ${a.checked.length} tensors checked` : ''}`);
  if (typeof v['agreement'] === 'number') {
    const sim = v['simulation'] && typeof v['simulation'] === 'object' ? (v['simulation'] as { runtime?: string; reason?: string }) : null;
    const simOn = sim?.runtime ? ` (simulated on ${sim.runtime}${sim.reason ? `: ${sim.reason}` : ''})` : '';
    lines.push(`verified in ${v['runtime']} on ${v['count']} eval samples: accuracy ${pct(v['runtimeAccuracy'])} vs studio simulation ${pct(v['simulationAccuracy'])}${simOn}`);
    lines.push(`top-1 agreement ${pct(v['agreement'])}, max |output difference| ${(v['maxAbsDiff'] as number).toExponential(3)}${v['passed'] ? '' : '  (below the 99.5% / 0.1 point goal)'}`);
  } else lines.push('not verified in a runtime');
  return lines.join('\n');
}

/** The layer diff of a verification as a table in the model's order, and where the file and the simulation part. */
export function formatLayerDiff(r: ExportRecord): string {
  const d = (r.verification as { layerDiff?: LayerDiffReport }).layerDiff;
  if (!d) return `no layer diff (${r.format} files are not diffed, or the export was not verified)`;
  if (d.unavailable) return `no layer diff: ${d.unavailable}`;
  // Shares of a few values in a million still show.
  const share = (v: number) => (v === 0 ? '0' : `${(v * 100).toPrecision(2)}%`);
  const rows = d.layers.map((l, i) => [i + 1, l.layer, l.tensor, l.maxSteps, l.sqnr === null ? 'exact' : l.sqnr.toFixed(1), share(l.offByOne), share(l.beyondOne)]);
  const verdict = d.firstDivergence ? `file and simulation part at layer ${d.firstDivergence} (more than ${d.tolerance} step off)` : `every layer within ${d.tolerance} step of the simulation`;
  return [
    `layer diff on the first ${d.samples} eval samples (file integers against the studio simulation, in quantization steps):`,
    formatTable(['#', 'layer', 'tensor', 'max |diff|', 'SQNR dB', 'off by 1', 'beyond 1'], rows),
    verdict,
  ].join('\n');
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('write a finished run as a quantized model file, audit it and verify it in its runtime')
    .argument('<run>', 'run id')
    .addOption(new Option('--format <format>', 'output format').choices([...EXPORT_FORMATS]).makeOptionMandatory())
    .requiredOption('--out <path>', 'file to write (a folder for tfjs); never overwritten unless --overwrite')
    .option('--verify', 'run the written file in its runtime on the run eval split (default on; --no-verify to skip)', true)
    .option('--no-verify', 'skip the runtime verification')
    .option('--overwrite', 'replace an existing file')
    .option('--int8-io', 'tflite: int8 model input and output (default: float, with QUANTIZE/DEQUANTIZE at the ends)')
    .option('--diff', 'print the layer-by-layer diff of the file against the studio simulation (onnx, tflite)')
    .option('--json', 'print the export record as JSON')
    .action(async (run: string, o: ExportCliOptions, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const runId = Number(run);
        if (!Number.isInteger(runId) || runId <= 0) throw new UsageError(`run must be a positive integer id, got "${run}"`);
        const record = await exportWithProgress(studio, { runId, format: o.format, path: path.resolve(o.out), verify: o.verify !== false, overwrite: !!o.overwrite, integerIo: !!o.int8Io }, !!o.json);
        print(!!o.json, record, () => (o.diff ? `${formatExport(record)}\n${formatLayerDiff(record)}` : formatExport(record)));
        // Written and stored, but the runtime disagrees with the simulation: a failed outcome.
        const v = record.verification as { passed?: boolean };
        if (v.passed === false) process.exitCode = EXIT.failed;
      }),
    );
}

/** Starts the export job, shows its progress on stderr, cancels it on Ctrl-C (exit 130); resolves with the stored record. */
async function exportWithProgress(studio: Studio, req: { runId: number; format: ExportFormat; path: string; verify: boolean; overwrite: boolean; integerIo: boolean }, quiet: boolean): Promise<ExportRecord> {
  const display = progressDisplay(quiet);
  let jobId = 0;
  let interrupted = false;
  const off = studio.events.subscribe((event: EventName, payload: unknown) => {
    if (event !== 'exports.progress') return;
    const p = payload as ExportProgress;
    if (p.exportJobId === jobId) display.update(p);
  });
  const onSigint = () => {
    interrupted = true;
    process.stderr.write(`\ncancelling the export…\n`);
    void callApi(studio, 'exports.cancel', { exportJobId: jobId }).catch(() => {});
  };
  let ok = false;
  try {
    const job = await callApi(studio, 'exports.start', req);
    jobId = job.exportJobId;
    process.once('SIGINT', onSigint);
    const outcome = await studio.exports.outcome(jobId);
    if (!outcome) throw new CliError(`export job ${jobId} ended before it could be followed`);
    if (!outcome.ok) {
      const failed = outcome satisfies Pick<ExportFailed, 'cancelled' | 'message'>;
      if (failed.cancelled && interrupted) throw new InterruptedError(failed.message, { runId: req.runId });
      throw new CliError(failed.message, /already exists/.test(failed.message) ? 'conflict' : 'failed', EXIT.failed, { runId: req.runId });
    }
    ok = true;
    return outcome.record;
  } finally {
    off();
    process.off('SIGINT', onSigint);
    display.end(ok);
  }
}
