/**
 * The options of the run commands (calibrate, train, qat, lint, explain) and
 * the run config they make: the command's defaults, then a --config file,
 * then the flags actually typed.
 */
import { Command, Option } from 'commander';
import { TargetName, type RunConfigInput } from '../api/run-config.js';
import type { RunKind } from '../jobs/run-jobs.js';
import type { Studio } from '../studio.js';
import { callApi } from './common.js';
import { deepMerge, readConfigFile, type ConfigTree } from './config-file.js';
import { CliError, UsageError } from './errors.js';

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
  weightEstimator?: 'minmax' | 'mse';
  calib?: string;
  eval?: string;
  override?: string[];
  keepFloatUnsupported?: boolean;
  cle?: boolean;
  cleRelu6?: 'skip' | 'as-relu';
  cleFlatten?: 'skip' | 'cross';
  highBiasAbsorption?: boolean;
  biasCorrection?: 'off' | 'empirical' | 'empirical-float' | 'analytic';
  adaround?: boolean;
  adaroundIterations?: string;
  target?: string;
  epochs?: string;
  batchSize?: string;
  lr?: string;
  optimizer?: string;
  name?: string;
  json?: boolean;
  /** `studio sensitivity`: the eval samples each case runs on. */
  subset?: string;
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
    if (kind !== 'ptq' && kind !== 'sensitivity') set('training.seed', int('--seed', o.seed));
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
  if (o.weightEstimator !== undefined) set('estimator.weights', o.weightEstimator);
  if (o.override !== undefined && o.override.length > 0) set('overrides', o.override.map(parseOverride));
  if (o.keepFloatUnsupported) set('unsupported', 'keep-float');
  // Accuracy recovery (PTQ): --cle-relu6, --cle-flatten and --high-bias-absorption imply --cle.
  if (o.cle || o.cleRelu6 !== undefined || o.cleFlatten !== undefined || o.highBiasAbsorption) set('recovery.cle', true);
  if (o.cleRelu6 !== undefined) set('recovery.relu6', o.cleRelu6);
  if (o.cleFlatten !== undefined) set('recovery.flatten', o.cleFlatten);
  if (o.highBiasAbsorption) set('recovery.highBiasAbsorption', true);
  if (o.biasCorrection !== undefined) set('recovery.biasCorrection', o.biasCorrection);
  if (o.subset !== undefined) set('sensitivity.subset', int('--subset', o.subset));
  // --adaround-iterations implies --adaround.
  if (o.adaround || o.adaroundIterations !== undefined) set('recovery.adaround', {});
  if (o.adaroundIterations !== undefined) set('recovery.adaround.iterations', int('--adaround-iterations', o.adaroundIterations));
  if (o.target !== undefined) set('target', o.target);
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
    .addOption(new Option('--weight-estimator <kind>', 'PTQ kernel ranges: minmax (exact |max|) or mse (least squared fake-quant error); default mse with --estimator mse, else minmax').choices(['minmax', 'mse']))
    .option('--calib <n>', 'calibration samples (from the train part)', '1000')
    .option('--eval <n>', 'evaluation samples (from the test part)', '2000')
    .option('--override <layer:rule>', 'per-layer override, repeatable: LAYER:float, LAYER:w8, LAYER:a16, LAYER:w8a8', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--keep-float-unsupported', 'keep unsupported layers float instead of stopping')
    .addOption(new Option('--target <name>', 'plan and simulate as this export target computes (see `studio targets`)').choices(TargetName.options))
    .option('--name <name>', 'run name (default: a readable name from the config)')
    .option('--json', 'print the run as JSON');
}
