/**
 * `studio export RUN --format onnx|tfjs|params --out PATH [--verify] [--overwrite] [--json]`:
 * writes a finished run through the API (exports.create), then prints the
 * audit and the verification against the studio's simulation.
 */
import path from 'node:path';
import { Command, Option } from 'commander';
import type { ExportRecord } from '../api/contract.js';
import { callApi, CliError, print, withStudio } from './common.js';

interface ExportCliOptions {
  format: 'onnx' | 'tfjs' | 'params';
  out: string;
  verify?: boolean;
  overwrite?: boolean;
  json?: boolean;
}

const pct = (v: unknown) => (typeof v === 'number' ? `${(v * 100).toFixed(2)}%` : '—');

export function formatExport(r: ExportRecord): string {
  const v = r.verification as Record<string, unknown>;
  const a = r.audit as { ok?: boolean; checked?: unknown[]; problems?: string[] };
  const lines = [`wrote ${r.format} ${r.path} (${r.size} bytes, sha256 ${r.sha256.slice(0, 16)}…)`];
  lines.push(`audit: ${a.ok === false ? 'FAILED' : 'ok'}${Array.isArray(a.checked) ? `, ${a.checked.length} tensors checked` : ''}`);
  if (typeof v['agreement'] === 'number') {
    lines.push(`verified in ${v['runtime']} on ${v['count']} eval samples: accuracy ${pct(v['runtimeAccuracy'])} vs studio simulation ${pct(v['simulationAccuracy'])}`);
    lines.push(`top-1 agreement ${pct(v['agreement'])}, max |output difference| ${(v['maxAbsDiff'] as number).toExponential(3)}${v['passed'] ? '' : '  (below the 99.5% / 0.1 point goal)'}`);
  } else lines.push('not verified in a runtime');
  return lines.join('\n');
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('write a finished run as a quantized model file, audit it and verify it in its runtime')
    .argument('<run>', 'run id')
    .addOption(new Option('--format <format>', 'output format').choices(['onnx', 'tfjs', 'params']).makeOptionMandatory())
    .requiredOption('--out <path>', 'file to write (a folder for tfjs); never overwritten unless --overwrite')
    .option('--verify', 'run the written file in its runtime on the run eval split (default on; --no-verify to skip)', true)
    .option('--no-verify', 'skip the runtime verification')
    .option('--overwrite', 'replace an existing file')
    .option('--json', 'print the export record as JSON')
    .action(async (run: string, o: ExportCliOptions, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const runId = Number(run);
        if (!Number.isInteger(runId) || runId <= 0) throw new CliError(`run must be a positive integer id, got "${run}"`);
        const record = await callApi(studio, 'exports.create', { runId, format: o.format, path: path.resolve(o.out), verify: o.verify !== false, overwrite: !!o.overwrite });
        print(!!o.json, record, () => formatExport(record));
        const v = record.verification as { passed?: boolean };
        if (v.passed === false) process.exitCode = 2;
      }),
    );
}
