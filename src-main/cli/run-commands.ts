/**
 * Headless runs: `studio calibrate` (PTQ), `studio train` (float baseline),
 * `studio lint`. They go through the same API as the UI (runs.start, events),
 * show progress on stderr, and cancel the run on Ctrl-C.
 */
import { Command, Option } from 'commander';
import type { JobProgress, LintFinding, RunDetail } from '../api/contract.js';
import type { RunConfigInput } from '../api/run-config.js';
import type { RecoveryRecord } from '../engine/transform/recovery.js';
import type { RunKind } from '../jobs/run-jobs.js';
import type { Studio } from '../studio.js';
import { callApi, print, withStudio } from './common.js';
import { CliError, EXIT, InterruptedError } from './errors.js';
import { formatTable } from './format.js';
import { progressDisplay } from './progress.js';
import { registerExplain } from './explain.js';
import { registerExport } from './export.js';
import { configFrom, runOptions, type RunOptions } from './run-options.js';
import { formatSensitivity, sensitivityOptions } from './sensitivity.js';

/**
 * Starts a run and waits for it, showing progress. Ctrl-C cancels it (the
 * run is stored as cancelled, with no results) and ends with exit 130; a
 * failed run ends with exit 1, after the run is printed.
 */
async function startAndWait(studio: Studio, kind: RunKind, config: RunConfigInput, name: string | undefined, quiet: boolean): Promise<{ run: RunDetail; failure: CliError | null }> {
  const run = await callApi(studio, 'runs.start', { kind, config, ...(name ? { name } : {}) });
  const display = progressDisplay(quiet);
  const off = studio.events.subscribe((event, payload) => {
    if (event !== 'job.progress') return;
    const p = payload as JobProgress;
    if (p.runId === run.id) display.update(p);
  });
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    process.stderr.write(`\ncancelling run ${run.id}…\n`);
    studio.runs.cancel(run.id);
  };
  process.once('SIGINT', onSigint);
  let detail: RunDetail;
  try {
    await studio.runs.settled(run.id);
    detail = await callApi(studio, 'runs.get', { id: run.id });
  } finally {
    off();
    process.off('SIGINT', onSigint);
  }
  display.end(detail.status === 'done');
  if (detail.status === 'done') return { run: detail, failure: null };
  if (detail.status === 'cancelled' && interrupted) return { run: detail, failure: new InterruptedError(`run ${run.id} cancelled; nothing of it was stored but its cancelled row`, { runId: run.id }) };
  return { run: detail, failure: new CliError(`run ${run.id} ${detail.status}${detail.error ? `: ${detail.error}` : ''}`, 'run_failed', EXIT.failed, { runId: run.id, status: detail.status }) };
}

const pct = (x: number | null) => (x === null ? '—' : `${(x * 100).toFixed(2)}%`);
const db = (x: number | null | undefined) => (x === null || x === undefined ? '—' : `${x.toFixed(1)} dB`);

/** ', onnxruntime, 2 threads' / ', TensorFlow.js, 2 workers', or '' for runs stored before the summary said. */
function calibratedBy(c: { runtime?: string; workers?: number } | undefined): string {
  if (!c?.runtime) return '';
  const n = c.workers ?? 1;
  return c.runtime === 'onnxruntime' ? `, onnxruntime, ${n} thread${n === 1 ? '' : 's'}` : `, TensorFlow.js, ${n} worker${n === 1 ? '' : 's'}`;
}

interface EvaluationSummary {
  runtime?: string;
  threads?: number;
  statsCount?: number;
  provider?: string;
  providerFallback?: string;
  nativeSkipped?: string;
  floatFrom?: number;
}

/** ' (onnxruntime, 2 threads; per-layer statistics on the first 2,304; float figures from run 3)', or '' for runs stored before the summary said. */
function evaluatedBy(e: EvaluationSummary | undefined, count: number | undefined): string {
  if (!e?.runtime) return '';
  const where = e.runtime === 'onnxruntime' ? `onnxruntime${e.provider && e.provider !== 'cpu' ? ` on ${e.provider}` : ''}, ${e.threads ?? 1} threads` : 'TensorFlow.js';
  const stats = e.statsCount !== undefined && e.statsCount !== count ? `; per-layer statistics on the first ${e.statsCount}` : '';
  const float = e.floatFrom !== undefined ? `; float figures from run ${e.floatFrom}` : '';
  return ` (${where}${stats}${float})`;
}

/** The one-screen summary of a PTQ run. */
export function formatPtqSummary(run: RunDetail): string {
  if (run.status !== 'done') return `run ${run.id} ${run.name}: ${run.status}${run.error ? ` — ${run.error}` : ''}`;
  const s = run.summary as { backend?: string; calibration?: { count: number; samplesPerSecond: number; estimator: string; runtime?: string; workers?: number }; eval?: { count: number }; evaluation?: EvaluationSummary; folded?: { batchNorm: string; layer: string }[]; layers?: { name: string; op: string; weightSqnr: number | null; activationSqnr: number | null; clipRate: number | null; channels: number }[]; notes?: string[] };
  const delta = run.quantAccuracy !== null && run.floatAccuracy !== null ? (run.quantAccuracy - run.floatAccuracy) * 100 : null;
  const c = run.config;
  const lines = [
    `run ${run.id}  ${run.name}`,
    `weights ${c.weights.bits}-bit ${c.weights.granularity} ${c.weights.symmetric ? 'symmetric' : 'asymmetric'}${c.weights.narrowRange ? ' narrow' : ''}; activations ${c.activations.bits}-bit ${c.activations.granularity}; estimator ${c.estimator.kind}${c.estimator.weights ? ` (weights ${c.estimator.weights})` : ''}; backend ${s.backend ?? run.backend}`,
    `calibrated on ${s.calibration?.count ?? '?'} samples (${Math.round(s.calibration?.samplesPerSecond ?? 0)} samples/s${calibratedBy(s.calibration)}), evaluated on ${s.eval?.count ?? '?'}${evaluatedBy(s.evaluation, s.eval?.count)}`,
    `top-1  float ${pct(run.floatAccuracy)}  quantized ${pct(run.quantAccuracy)}  delta ${delta === null ? '—' : `${delta >= 0 ? '+' : ''}${delta.toFixed(2)} points`}`,
    `loss   float ${run.floatLoss?.toFixed(4) ?? '—'}  quantized ${run.quantLoss?.toFixed(4) ?? '—'}`,
  ];
  if (s.folded?.length) lines.push(`BatchNorm folded: ${s.folded.map((f) => `${f.batchNorm} → ${f.layer}`).join(', ')}`);
  lines.push(...formatRecovery((run.summary as { recovery?: RecoveryRecord }).recovery));
  if (s.layers?.length) {
    lines.push('', formatTable(['layer', 'op', 'channels', 'weight SQNR', 'act SQNR', 'clipped'], s.layers.map((l) => [l.name, l.op, l.channels, db(l.weightSqnr), db(l.activationSqnr), l.clipRate === null ? '—' : `${(l.clipRate * 100).toFixed(3)}%`])));
    const worst = [...s.layers].filter((l) => l.activationSqnr !== null).sort((a, b) => a.activationSqnr! - b.activationSqnr!)[0];
    if (worst) lines.push(`lowest activation SQNR: ${worst.name} (${db(worst.activationSqnr)}); try --override ${worst.name}:float or ${worst.name}:w8a16`);
  }
  for (const n of s.notes ?? []) lines.push(`note: ${n}`);
  if (s.evaluation?.nativeSkipped) lines.push(`note: evaluated on TensorFlow.js because ${s.evaluation.nativeSkipped}`);
  if (s.evaluation?.providerFallback) lines.push(`note: ${s.evaluation.providerFallback}; ran on cpu`);
  for (const f of run.lint.filter((x) => x.severity !== 'info')) lines.push(`${f.severity}: ${f.layer ? `${f.layer}: ` : ''}${f.message}`);
  return lines.join('\n');
}

/** What CLE and bias correction did, one line per pair or layer group. */
export function formatRecovery(r: RecoveryRecord | undefined): string[] {
  if (!r) return [];
  const lines: string[] = [];
  const range = (a: number, b: number) => `${a.toPrecision(3)}..${b.toPrecision(3)}`;
  if (r.cle) {
    lines.push(`CLE: ${r.cle.equalized.length} pairs equalized in ${r.cle.sweeps} sweeps${r.cle.converged ? '' : ' (not converged)'}${r.cle.relu6Replaced.length ? `; ReLU6 → ReLU at ${r.cle.relu6Replaced.join(', ')}` : ''}`);
    for (const p of r.cle.equalized) lines.push(`  ${p.first} → ${p.second}: scales ${range(p.scaleMin, p.scaleMax)}, r1/r2 ${range(p.ratioBefore.min, p.ratioBefore.max)} → ${range(p.ratioAfter.min, p.ratioAfter.max)}`);
    for (const p of r.cle.skipped) lines.push(`  skipped ${p.first} → ${p.second}: ${p.reason}`);
  }
  if (r.highBiasAbsorption) {
    const h = r.highBiasAbsorption;
    lines.push(`high-bias absorption: ${h.absorbed.map((p) => `${p.first} → ${p.second} (${p.channels} channels, c ≤ ${p.maxAbsorbed.toPrecision(3)})`).join(', ') || 'no pair'}`);
    for (const p of h.skipped) lines.push(`  not absorbed ${p.first} → ${p.second}: ${p.reason}`);
  }
  if (r.biasCorrection) {
    const b = r.biasCorrection;
    lines.push(`bias correction (${b.kind}): ${b.layers.map((l) => `${l.layer} max |shift| ${l.maxAbs.toPrecision(3)}`).join(', ') || 'no layer'}`);
    for (const l of b.skipped) lines.push(`  not corrected ${l.layer}: ${l.reason}`);
  }
  if (r.adaround) {
    const a = r.adaround;
    lines.push(`AdaRound: ${a.layers.length} layers, ${a.iterations} steps of ${a.batchSize} samples each (λ ${a.regularization}, ${a.samples} samples held), ${a.seconds.toFixed(1)} s`);
    const share = (n: number, of: number) => `${((100 * n) / Math.max(1, of)).toFixed(1)}%`;
    for (const l of a.layers) {
      lines.push(`  ${l.layer}: output MSE ${l.mseNearest.toPrecision(3)} nearest → ${l.mseAdaround.toPrecision(3)}; ${share(l.roundedUp, l.weights)} up and ${share(l.roundedDown, l.weights)} down from nearest; ${l.seconds.toFixed(1)} s`);
    }
  }
  return lines;
}

export function formatLint(findings: LintFinding[]): string {
  if (findings.length === 0) return 'no findings: every tensor gets a range';
  return findings.map((f) => `${f.severity.padEnd(7)} ${f.layer ?? '(model)'}  ${f.message}\n        fix: ${f.fix}`).join('\n');
}

export function registerRunCommands(program: Command): void {
  registerExplain(program, (c) => runOptions(c, false));
  registerExport(program);

  runOptions(program.command('calibrate').description('post-training quantization: calibrate ranges, simulate the quantized model, report what it loses and where'))
    .option('--cle', 'cross-layer equalization of Dense/conv pairs joined by ReLU or identity, before calibration')
    .addOption(new Option('--cle-relu6 <how>', 'pairs joined by ReLU6: skip them (exact), or equalize with the ReLU6 as ReLU (DFQ / AIMET; changes the float model); implies --cle').choices(['skip', 'as-relu']))
    .addOption(new Option('--cle-flatten <how>', 'conv → Dense pairs joined by a Flatten: skip them (default: equalizing them measured worse), or cross the Flatten; implies --cle').choices(['skip', 'cross']))
    .option('--high-bias-absorption', "with CLE, move each ReLU layer's bias above β − 3γ into the next layer's; implies --cle")
    .addOption(new Option('--bias-correction <kind>', 'correct the biases for the weight quantization error: empirical (calibration split, each layer against the float layer on the same input), empirical-float (calibration split, against the float model: also the mean shift from earlier layers) or analytic (BatchNorm statistics)').choices(['off', 'empirical', 'empirical-float', 'analytic']))
    .option('--adaround', 'learn each kernel\'s rounding on the calibration split (AdaRound; 2,000 steps of 32 samples per layer)')
    .option('--adaround-iterations <n>', 'AdaRound steps per layer; implies --adaround')
    .action(
    async (o: RunOptions, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const { run, failure } = await startAndWait(studio, 'ptq', await configFrom(studio, o, cmd, 'ptq'), o.name, !!o.json);
        print(!!o.json, run, () => formatPtqSummary(run));
        // A run that did not finish is printed first, then ends the command (exit 1, or 130 after Ctrl-C).
        if (failure) throw failure;
      }),
  );

  sensitivityOptions(runOptions(program.command('sensitivity').description('sensitivity analysis: per layer, the accuracy and output SQNR with only that layer quantized, only it float, only its weights, only its activation')))
    .action(async (o: RunOptions, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const { run, failure } = await startAndWait(studio, 'sensitivity', await configFrom(studio, o, cmd, 'sensitivity'), o.name, !!o.json);
        const { layers } = await callApi(studio, 'runs.sensitivity', { id: run.id });
        print(!!o.json, { ...run, sensitivity: layers }, () => formatSensitivity(run, layers));
        if (failure) throw failure;
      }),
    );

  runOptions(program.command('train').description('train a float baseline on a dataset; the trained model lands in the library'))
    .option('--epochs <n>', 'epochs', '1')
    .option('--batch-size <n>', 'batch size', '64')
    .option('--lr <rate>', 'learning rate', '0.001')
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['adam', 'sgd']).default('adam'))
    .action(async (o: RunOptions, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const { run, failure } = await startAndWait(studio, 'float', await configFrom(studio, o, cmd, 'float'), o.name, !!o.json);
        print(!!o.json, run, () => {
          if (run.status !== 'done') return `run ${run.id} ${run.name}: ${run.status}${run.error ? ` — ${run.error}` : ''}`;
          const s = run.summary as { trainedModelId?: number; trainedModelName?: string };
          return `run ${run.id} ${run.name}: test top-1 ${pct(run.floatAccuracy)}, loss ${run.floatLoss?.toFixed(4)}; model ${s.trainedModelId} ${s.trainedModelName} added to the library`;
        });
        // A run that did not finish is printed first, then ends the command (exit 1, or 130 after Ctrl-C).
        if (failure) throw failure;
      }),
    );

  runOptions(program.command('qat').description('quantization-aware training: fine-tune the model with fake-quantized weights and activations; the trained model lands in the library'))
    .option('--epochs <n>', 'epochs', '1')
    .option('--batch-size <n>', 'batch size', '64')
    .option('--lr <rate>', 'learning rate', '0.0001')
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['adam', 'sgd']).default('adam'))
    .action(async (o: RunOptions, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const { run, failure } = await startAndWait(studio, 'qat', await configFrom(studio, o, cmd, 'qat'), o.name, !!o.json);
        print(!!o.json, run, () => {
          if (run.status !== 'done') return `run ${run.id} ${run.name}: ${run.status}${run.error ? ` — ${run.error}` : ''}`;
          const s = run.summary as { trainedModelId?: number; trainedModelName?: string; train?: { runtime?: string } };
          return [
            `run ${run.id} ${run.name}: quantized top-1 ${pct(run.quantAccuracy)} (float before ${pct(run.floatAccuracy)}), loss ${run.quantLoss?.toFixed(4) ?? '—'}${s.train?.runtime ? `; trained on ${s.train.runtime}` : ''}`,
            `model ${s.trainedModelId} ${s.trainedModelName} added to the library; export this run to write the quantized file`,
          ].join('\n');
        });
        // A run that did not finish is printed first, then ends the command (exit 1, or 130 after Ctrl-C).
        if (failure) throw failure;
      }),
    );

  runOptions(program.command('lint').description('what a run with this config would meet: tensors without a range, BatchNorm folding, unsupported layers'))
    .addOption(new Option('--kind <kind>', 'run kind').choices(['ptq', 'qat', 'float']).default('ptq'))
    .action(async (o: RunOptions & { kind: 'ptq' | 'qat' | 'float' }, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const out = await callApi(studio, 'runs.lint', { kind: o.kind, config: await configFrom(studio, o, cmd, o.kind) });
        print(!!o.json, out, () => formatLint(out.findings));
        if (out.findings.some((f) => f.severity === 'error')) process.exitCode = 1;
      }),
    );
}
