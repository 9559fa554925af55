/**
 * `studio export RUN --format onnx|tflite|tfjs|params --out PATH [--verify] [--overwrite] [--json]`:
 * starts an export job through the API (exports.start), draws its progress
 * on one line, cancels it on Ctrl-C (no file left, nothing stored), then
 * prints the audit and the verification against the studio's simulation.
 */
import path from 'node:path';
import { Command, Option } from 'commander';
import type { EventName, ExportFailed, ExportProgress, ExportRecord } from '../api/contract.js';
import { EXPORT_FORMATS, type ExportFormat } from '../export/types.js';
import type { Studio } from '../studio.js';
import { callApi, CliError, print, withStudio } from './common.js';
import { progressLine } from './progress.js';

interface ExportCliOptions {
  format: ExportFormat;
  out: string;
  verify?: boolean;
  overwrite?: boolean;
  int8Io?: boolean;
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
    .option('--json', 'print the export record as JSON')
    .action(async (run: string, o: ExportCliOptions, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const runId = Number(run);
        if (!Number.isInteger(runId) || runId <= 0) throw new CliError(`run must be a positive integer id, got "${run}"`);
        const record = await exportWithProgress(studio, { runId, format: o.format, path: path.resolve(o.out), verify: o.verify !== false, overwrite: !!o.overwrite, integerIo: !!o.int8Io }, !!o.json);
        print(!!o.json, record, () => formatExport(record));
        const v = record.verification as { passed?: boolean };
        if (v.passed === false) process.exitCode = 2;
      }),
    );
}

/** Starts the export job, draws its progress on stderr, cancels it on Ctrl-C; resolves with the stored record. */
async function exportWithProgress(studio: Studio, req: { runId: number; format: ExportFormat; path: string; verify: boolean; overwrite: boolean; integerIo: boolean }, quiet: boolean): Promise<ExportRecord> {
  const tty = process.stderr.isTTY && !quiet;
  let jobId = 0;
  let lastPhase = '';
  const off = studio.events.subscribe((event: EventName, payload: unknown) => {
    if (event !== 'exports.progress' || quiet) return;
    const p = payload as ExportProgress;
    if (p.exportJobId !== jobId) return;
    const line = progressLine(p);
    if (tty) process.stderr.write(`\r${line}\x1b[K`);
    // Without a terminal: one line a step, and one at the end of each verification pass.
    else if (p.phase === 'verify' ? p.total > 1 && p.done === p.total : p.phase !== lastPhase) process.stderr.write(line + '\n');
    lastPhase = p.phase;
  });
  const onSigint = () => {
    process.stderr.write(`\ncancelling the export…\n`);
    void callApi(studio, 'exports.cancel', { exportJobId: jobId }).catch(() => {});
  };
  try {
    const job = await callApi(studio, 'exports.start', req);
    jobId = job.exportJobId;
    process.once('SIGINT', onSigint);
    const outcome = await studio.exports.outcome(jobId);
    if (!outcome) throw new CliError(`export job ${jobId} ended before it could be followed`);
    if (!outcome.ok) throw new CliError((outcome satisfies Pick<ExportFailed, 'cancelled' | 'message'>).message);
    return outcome.record;
  } finally {
    off();
    process.off('SIGINT', onSigint);
    if (tty) process.stderr.write('\n');
  }
}
