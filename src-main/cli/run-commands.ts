/**
 * Headless runs: `studio calibrate` (PTQ), `studio train` (float baseline),
 * `studio lint`. They go through the same API as the UI (runs.start, events),
 * show progress on stderr, and cancel the run on Ctrl-C.
 */
import { Command, Option } from 'commander';
import type { JobProgress, LintFinding, RunDetail } from '../api/contract.js';
import type { RunConfigInput } from '../api/run-config.js';
import type { RunKind } from '../jobs/run-jobs.js';
import type { Studio } from '../studio.js';
import { callApi, print, withStudio } from './common.js';
import { deepMerge, readConfigFile, type ConfigTree } from './config-file.js';
import { CliError, EXIT, InterruptedError, UsageError } from './errors.js';
import { formatTable } from './format.js';
import { progressDisplay } from './progress.js';
import { registerExplain } from './explain.js';
import { registerExport } from './export.js';

export interface RunOptions {
  model?: string;
  data?: string;
  config?: string;
  seed?: string;
  weights?: 'per-channel' | 'per-tensor';
  activations?: 'per-channel' | 'per-tensor';
  bits?: string;
  actBits?: string;
  asymmetricWeights?: boolean;
  symmetricActivations?: boolean;
  fullRange?: boolean;
  estimator?: string;
  percentile?: string;
  calib?: string;
  eval?: string;
  override?: string[];
  keepFloatUnsupported?: boolean;
  epochs?: string;
  batchSize?: string;
  lr?: string;
  optimizer?: string;
  name?: string;
  json?: boolean;
}

const int = (flag: string, v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UsageError(`${flag} must be an integer, got "${v}"`);
  return n;
};

const num = (flag: string, v: string) => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${flag} must be a number, got "${v}"`);
  return n;
};

/** `conv2d_1:float`, `dense_2:w8`, `dense_2:a16`, `dense_2:w8a8`. */
export function parseOverride(text: string): NonNullable<RunConfigInput['overrides']>[number] {
  const m = /^([^:]+):(float|(?:w(\d+))?(?:a(\d+))?)$/.exec(text);
  if (!m || m[2] === '') throw new UsageError(`--override "${text}": expected LAYER:float, LAYER:w8, LAYER:a16 or LAYER:w8a8`);
  if (m[2] === 'float') return { layer: m[1]!, float: true };
  return { layer: m[1]!, ...(m[3] ? { weightBits: Number(m[3]) } : {}), ...(m[4] ? { activationBits: Number(m[4]) } : {}) };
}

/** A model or dataset named by id or by name. */
function resolveId(kind: 'model' | 'dataset', ref: string, items: { id: number; name: string }[]): number {
  const byId = items.find((i) => String(i.id) === ref);
  const byName = items.find((i) => i.name === ref);
  const hit = byId ?? byName;
  if (!hit) throw new CliError(`no ${kind} "${ref}"; have: ${items.map((i) => `${i.id} ${i.name}`).join(', ') || 'none'}`, 'not_found');
  return hit.id;
}

/** The part of a run config that the given option values say (ids aside); options left out say nothing. */
function configOfOptions(o: RunOptions, kind: RunKind): ConfigTree {
  const tree: ConfigTree = {};
  const set = (where: string, value: unknown) => {
    const keys = where.split('.');
    let node = tree;
    for (const k of keys.slice(0, -1)) node = (node[k] ??= {}) as ConfigTree;
    node[keys.at(-1)!] = value;
  };
  if (o.calib !== undefined) set('calibration.count', int('--calib', o.calib));
  if (o.eval !== undefined) set('eval.count', int('--eval', o.eval));
  if (o.seed !== undefined) {
    // The calibration sample and the training order; the eval split keeps its seed so runs compare on the same images.
    set('calibration.seed', int('--seed', o.seed));
    if (kind !== 'ptq') set('training.seed', int('--seed', o.seed));
  }
  if (o.bits !== undefined) set('weights.bits', int('--bits', o.bits));
  if (o.weights !== undefined) set('weights.granularity', o.weights);
  if (o.asymmetricWeights) set('weights.symmetric', false);
  if (o.fullRange) set('weights.narrowRange', false);
  if (o.actBits !== undefined) set('activations.bits', int('--act-bits', o.actBits));
  if (o.activations !== undefined) set('activations.granularity', o.activations);
  if (o.symmetricActivations) set('activations.symmetric', true);
  if (o.estimator !== undefined) set('estimator.kind', o.estimator);
  if (o.percentile !== undefined) set('estimator.percentile', num('--percentile', o.percentile));
  if (o.override !== undefined && o.override.length > 0) set('overrides', o.override.map(parseOverride));
  if (o.keepFloatUnsupported) set('unsupported', 'keep-float');
  if (o.epochs !== undefined) set('training.epochs', num('--epochs', o.epochs));
  if (o.batchSize !== undefined) set('training.batchSize', int('--batch-size', o.batchSize));
  if (o.lr !== undefined) set('training.learningRate', num('--lr', o.lr));
  if (o.optimizer !== undefined) set('training.optimizer', o.optimizer);
  return tree;
}

/** What the CLI asks for unless told otherwise: the on/off flags (--asymmetric-weights, --full-range…) off, the splits' seeds. */
const CLI_BASE: ConfigTree = {
  calibration: { seed: 0 },
  eval: { seed: 1 },
  weights: { symmetric: true, narrowRange: true },
  activations: { symmetric: false, narrowRange: false },
  unsupported: 'stop',
};

/** The options of `cmd` whose values came from `source` ('default' or 'cli'). */
function optionsFrom(cmd: Command, o: RunOptions, source: 'default' | 'cli'): RunOptions {
  const picked: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(o)) if (cmd.getOptionValueSource(key) === source) picked[key] = value;
  return picked as RunOptions;
}

/**
 * The run config a command asks for: the command's defaults, under the
 * --config file, under the flags given on the command line.
 */
export async function configFrom(studio: Studio, o: RunOptions, cmd: Command, kind: RunKind = 'ptq', needsData = true): Promise<RunConfigInput> {
  const defaults = deepMerge(CLI_BASE, configOfOptions(optionsFrom(cmd, o, 'default'), kind));
  const file = o.config !== undefined ? readConfigFile(o.config, defaults) : {};
  const merged = deepMerge(deepMerge(defaults, file), configOfOptions(optionsFrom(cmd, o, 'cli'), kind));
  const fromFile = (key: 'modelId' | 'datasetId') => (typeof file[key] === 'number' ? (file[key] as number) : undefined);
  const modelId = o.model !== undefined ? resolveId('model', o.model, await callApi(studio, 'models.list', {})) : fromFile('modelId');
  if (modelId === undefined) throw new UsageError(`--model is required (or "modelId" in the --config file)`);
  const datasetId = o.data !== undefined ? resolveId('dataset', o.data, await callApi(studio, 'datasets.list', {})) : fromFile('datasetId');
  // Explaining variables reads no data: any id satisfies the schema there.
  if (datasetId === undefined && needsData) throw new UsageError(`--data is required (or "datasetId" in the --config file)`);
  return { ...merged, modelId, datasetId: datasetId ?? 1 } as RunConfigInput;
}

export function runOptions(cmd: Command, needsData = true): Command {
  cmd.option('--model <id|name>', 'model in the library (see `studio models`); required unless the --config file names it');
  if (needsData) cmd.option('--data <id|name>', 'dataset in the library (see `studio datasets`); required unless the --config file names it');
  return cmd
    .option('--config <file>', "a run's config as JSON (e.g. from `studio runs show N --json`); the flags given override it")
    .option('--seed <n>', 'seed of the calibration sample and of the training order (the eval split keeps its own)')
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

export function formatLint(findings: LintFinding[]): string {
  if (findings.length === 0) return 'no findings: every tensor gets a range';
  return findings.map((f) => `${f.severity.padEnd(7)} ${f.layer ?? '(model)'}  ${f.message}\n        fix: ${f.fix}`).join('\n');
}

export function registerRunCommands(program: Command): void {
  registerExplain(program, (c) => runOptions(c, false));
  registerExport(program);

  runOptions(program.command('calibrate').description('post-training quantization: calibrate ranges, simulate the quantized model, report what it loses and where')).action(
    async (o: RunOptions, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const { run, failure } = await startAndWait(studio, 'ptq', await configFrom(studio, o, cmd, 'ptq'), o.name, !!o.json);
        print(!!o.json, run, () => formatPtqSummary(run));
        // A run that did not finish is printed first, then ends the command (exit 1, or 130 after Ctrl-C).
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
