/**
 * Headless runs: `studio calibrate` (PTQ), `studio train` (float baseline),
 * `studio lint`. They go through the same API as the UI (runs.start, events),
 * show progress on stderr, and cancel the run on Ctrl-C.
 */
import { Command, Option } from 'commander';
import type { JobProgress, LintFinding, RunDetail } from '../api/contract.js';
import type { RunConfigInput } from '../api/run-config.js';
import type { RecoveryRecord } from '../engine/transform/recovery.js';
import type { Studio } from '../studio.js';
import { callApi, CliError, print, withStudio } from './common.js';
import { formatTable } from './format.js';
import { progressLine } from './progress.js';
import { registerExplain } from './explain.js';
import { registerExport } from './export.js';

export interface RunOptions {
  model: string;
  data?: string;
  weights: 'per-channel' | 'per-tensor';
  activations: 'per-channel' | 'per-tensor';
  bits: string;
  actBits: string;
  asymmetricWeights?: boolean;
  symmetricActivations?: boolean;
  fullRange?: boolean;
  estimator: string;
  percentile?: string;
  calib: string;
  eval: string;
  override: string[];
  keepFloatUnsupported?: boolean;
  cle?: boolean;
  cleRelu6?: 'skip' | 'as-relu';
  highBiasAbsorption?: boolean;
  biasCorrection?: 'off' | 'empirical' | 'analytic';
  epochs?: string;
  batchSize?: string;
  lr?: string;
  optimizer?: string;
  name?: string;
  json?: boolean;
}

const int = (flag: string, v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new CliError(`${flag} must be an integer, got "${v}"`);
  return n;
};

/** `conv2d_1:float`, `dense_2:w8`, `dense_2:a16`, `dense_2:w8a8`. */
export function parseOverride(text: string): NonNullable<RunConfigInput['overrides']>[number] {
  const m = /^([^:]+):(float|(?:w(\d+))?(?:a(\d+))?)$/.exec(text);
  if (!m || m[2] === '') throw new CliError(`--override "${text}": expected LAYER:float, LAYER:w8, LAYER:a16 or LAYER:w8a8`);
  if (m[2] === 'float') return { layer: m[1]!, float: true };
  return { layer: m[1]!, ...(m[3] ? { weightBits: Number(m[3]) } : {}), ...(m[4] ? { activationBits: Number(m[4]) } : {}) };
}

/** A model or dataset named by id or by name. */
function resolveId(kind: 'model' | 'dataset', ref: string, items: { id: number; name: string }[]): number {
  const byId = items.find((i) => String(i.id) === ref);
  const byName = items.find((i) => i.name === ref);
  const hit = byId ?? byName;
  if (!hit) throw new CliError(`no ${kind} "${ref}"; have: ${items.map((i) => `${i.id} ${i.name}`).join(', ') || 'none'}`);
  return hit.id;
}

export async function configFrom(studio: Studio, o: RunOptions): Promise<RunConfigInput> {
  const modelId = resolveId('model', o.model, await callApi(studio, 'models.list', {}));
  // Explaining variables reads no data: any id satisfies the schema there.
  const datasetId = o.data === undefined ? 1 : resolveId('dataset', o.data, await callApi(studio, 'datasets.list', {}));
  return {
    modelId,
    datasetId,
    calibration: { count: int('--calib', o.calib), seed: 0 },
    eval: { count: int('--eval', o.eval), seed: 1 },
    weights: { bits: int('--bits', o.bits), symmetric: !o.asymmetricWeights, narrowRange: !o.fullRange, granularity: o.weights },
    activations: { bits: int('--act-bits', o.actBits), symmetric: !!o.symmetricActivations, narrowRange: false, granularity: o.activations },
    estimator: { kind: o.estimator as 'minmax', ...(o.percentile ? { percentile: Number(o.percentile) } : {}) },
    overrides: o.override.map(parseOverride),
    unsupported: o.keepFloatUnsupported ? 'keep-float' : 'stop',
    ...(o.cle || o.cleRelu6 || o.highBiasAbsorption || (o.biasCorrection && o.biasCorrection !== 'off')
      ? {
          recovery: {
            cle: !!o.cle || !!o.cleRelu6 || !!o.highBiasAbsorption,
            ...(o.cleRelu6 ? { relu6: o.cleRelu6 } : {}),
            ...(o.highBiasAbsorption ? { highBiasAbsorption: true } : {}),
            ...(o.biasCorrection ? { biasCorrection: o.biasCorrection } : {}),
          },
        }
      : {}),
    ...(o.epochs || o.batchSize || o.lr || o.optimizer
      ? {
          training: {
            ...(o.epochs ? { epochs: Number(o.epochs) } : {}),
            ...(o.batchSize ? { batchSize: int('--batch-size', o.batchSize) } : {}),
            ...(o.lr ? { learningRate: Number(o.lr) } : {}),
            ...(o.optimizer ? { optimizer: o.optimizer as 'adam' } : {}),
          },
        }
      : {}),
  };
}

export function runOptions(cmd: Command, needsData = true): Command {
  cmd.requiredOption('--model <id|name>', 'model in the library (see `studio models`)');
  if (needsData) cmd.requiredOption('--data <id|name>', 'dataset in the library (see `studio datasets`)');
  return cmd
    .addOption(new Option('--weights <granularity>', 'weight ranges').choices(['per-channel', 'per-tensor']).default('per-channel'))
    .addOption(new Option('--activations <granularity>', 'activation ranges').choices(['per-tensor', 'per-channel']).default('per-tensor'))
    .option('--bits <n>', 'weight bits (2..16)', '8')
    .option('--act-bits <n>', 'activation bits (2..16)', '8')
    .option('--asymmetric-weights', 'asymmetric weight ranges (default: symmetric, zero point 0)')
    .option('--symmetric-activations', 'symmetric activation ranges (default: asymmetric)')
    .option('--full-range', 'use the full integer range for weights (default: narrow, e.g. int8 [-127, 127])')
    .addOption(new Option('--estimator <kind>', 'activation range estimator').choices(['minmax', 'lastvalue', 'movingaverage', 'percentile', 'mse', 'entropy']).default('minmax'))
    .option('--percentile <p>', 'percentile kept by the percentile estimator, e.g. 99.99')
    .option('--calib <n>', 'calibration samples (from the train part)', '1000')
    .option('--eval <n>', 'evaluation samples (from the test part)', '2000')
    .option('--override <layer:rule>', 'per-layer override, repeatable: LAYER:float, LAYER:w8, LAYER:a16, LAYER:w8a8', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--keep-float-unsupported', 'keep unsupported layers float instead of stopping')
    .option('--name <name>', 'run name (default: a readable name from the config)')
    .option('--json', 'print the run as JSON');
}

/** Starts a run and waits for it, drawing progress; Ctrl-C cancels it. */
async function startAndWait(studio: Studio, kind: 'ptq' | 'float' | 'qat', config: RunConfigInput, name: string | undefined, quiet: boolean): Promise<RunDetail> {
  const run = await callApi(studio, 'runs.start', { kind, config, ...(name ? { name } : {}) });
  const tty = process.stderr.isTTY && !quiet;
  const off = studio.events.subscribe((event, payload) => {
    if (event !== 'job.progress' || quiet) return;
    const p = payload as JobProgress;
    if (p.runId !== run.id) return;
    const line = progressLine(p);
    if (tty) process.stderr.write(`\r${line}\x1b[K`);
    else if (p.done === p.total) process.stderr.write(line + '\n');
  });
  const onSigint = () => {
    process.stderr.write(`\ncancelling run ${run.id}…\n`);
    studio.runs.cancel(run.id);
  };
  process.once('SIGINT', onSigint);
  try {
    await studio.runs.settled(run.id);
  } finally {
    off();
    process.off('SIGINT', onSigint);
    if (tty) process.stderr.write('\n');
  }
  return callApi(studio, 'runs.get', { id: run.id });
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
}

/** ' (onnxruntime, 2 threads; per-layer statistics on the first 2,304)', or '' for runs stored before the summary said. */
function evaluatedBy(e: EvaluationSummary | undefined, count: number | undefined): string {
  if (!e?.runtime) return '';
  const where = e.runtime === 'onnxruntime' ? `onnxruntime${e.provider && e.provider !== 'cpu' ? ` on ${e.provider}` : ''}, ${e.threads ?? 1} threads` : 'TensorFlow.js';
  const stats = e.statsCount !== undefined && e.statsCount !== count ? `; per-layer statistics on the first ${e.statsCount}` : '';
  return ` (${where}${stats})`;
}

/** The one-screen summary of a PTQ run. */
export function formatPtqSummary(run: RunDetail): string {
  if (run.status !== 'done') return `run ${run.id} ${run.name}: ${run.status}${run.error ? ` — ${run.error}` : ''}`;
  const s = run.summary as { backend?: string; calibration?: { count: number; samplesPerSecond: number; estimator: string; runtime?: string; workers?: number }; eval?: { count: number }; evaluation?: EvaluationSummary; folded?: { batchNorm: string; layer: string }[]; layers?: { name: string; op: string; weightSqnr: number | null; activationSqnr: number | null; clipRate: number | null; channels: number }[]; notes?: string[] };
  const delta = run.quantAccuracy !== null && run.floatAccuracy !== null ? (run.quantAccuracy - run.floatAccuracy) * 100 : null;
  const c = run.config;
  const lines = [
    `run ${run.id}  ${run.name}`,
    `weights ${c.weights.bits}-bit ${c.weights.granularity} ${c.weights.symmetric ? 'symmetric' : 'asymmetric'}${c.weights.narrowRange ? ' narrow' : ''}; activations ${c.activations.bits}-bit ${c.activations.granularity}; estimator ${c.estimator.kind}; backend ${s.backend ?? run.backend}`,
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
    .option('--high-bias-absorption', "with CLE, move each ReLU layer's bias above β − 3γ into the next layer's; implies --cle")
    .addOption(new Option('--bias-correction <kind>', 'correct the biases for the weight quantization error: empirical (calibration split) or analytic (BatchNorm statistics)').choices(['off', 'empirical', 'analytic']))
    .action(
    async (o: RunOptions, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const run = await startAndWait(studio, 'ptq', await configFrom(studio, o), o.name, !!o.json);
        print(!!o.json, run, () => formatPtqSummary(run));
        if (run.status !== 'done') process.exitCode = 1;
      }),
  );

  runOptions(program.command('train').description('train a float baseline on a dataset; the trained model lands in the library'))
    .option('--epochs <n>', 'epochs', '1')
    .option('--batch-size <n>', 'batch size', '64')
    .option('--lr <rate>', 'learning rate', '0.001')
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['adam', 'sgd']).default('adam'))
    .action(async (o: RunOptions, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const run = await startAndWait(studio, 'float', await configFrom(studio, o), o.name, !!o.json);
        print(!!o.json, run, () => {
          if (run.status !== 'done') return `run ${run.id} ${run.name}: ${run.status}${run.error ? ` — ${run.error}` : ''}`;
          const s = run.summary as { trainedModelId?: number; trainedModelName?: string };
          return `run ${run.id} ${run.name}: test top-1 ${pct(run.floatAccuracy)}, loss ${run.floatLoss?.toFixed(4)}; model ${s.trainedModelId} ${s.trainedModelName} added to the library`;
        });
        if (run.status !== 'done') process.exitCode = 1;
      }),
    );

  runOptions(program.command('qat').description('quantization-aware training: fine-tune the model with fake-quantized weights and activations; the trained model lands in the library'))
    .option('--epochs <n>', 'epochs', '1')
    .option('--batch-size <n>', 'batch size', '64')
    .option('--lr <rate>', 'learning rate', '0.0001')
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['adam', 'sgd']).default('adam'))
    .action(async (o: RunOptions, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const run = await startAndWait(studio, 'qat', await configFrom(studio, o), o.name, !!o.json);
        print(!!o.json, run, () => {
          if (run.status !== 'done') return `run ${run.id} ${run.name}: ${run.status}${run.error ? ` — ${run.error}` : ''}`;
          const s = run.summary as { trainedModelId?: number; trainedModelName?: string; train?: { runtime?: string } };
          return [
            `run ${run.id} ${run.name}: quantized top-1 ${pct(run.quantAccuracy)} (float before ${pct(run.floatAccuracy)}), loss ${run.quantLoss?.toFixed(4) ?? '—'}${s.train?.runtime ? `; trained on ${s.train.runtime}` : ''}`,
            `model ${s.trainedModelId} ${s.trainedModelName} added to the library; export this run to write the quantized file`,
          ].join('\n');
        });
        if (run.status !== 'done') process.exitCode = 1;
      }),
    );

  runOptions(program.command('lint').description('what a run with this config would meet: tensors without a range, BatchNorm folding, unsupported layers'))
    .addOption(new Option('--kind <kind>', 'run kind').choices(['ptq', 'qat', 'float']).default('ptq'))
    .action(async (o: RunOptions & { kind: 'ptq' | 'qat' | 'float' }, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const out = await callApi(studio, 'runs.lint', { kind: o.kind, config: await configFrom(studio, o) });
        print(!!o.json, out, () => formatLint(out.findings));
        if (out.findings.some((f) => f.severity === 'error')) process.exitCode = 1;
      }),
    );
}
