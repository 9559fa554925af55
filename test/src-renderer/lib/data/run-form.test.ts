// New run's form values and the run config both ways: what Start sends
// (configFromForm), stored as the host stores it (RunConfig.parse), filled
// back by "Edit as new run" (formFromRun) and sent again gives the same
// config: accuracy recovery (CLE, ReLU6, high-bias absorption, bias
// correction, AdaRound with its settings), a sensitivity subset, overrides,
// training settings, and the settings the form has no field for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunConfig } from '../../../../src-main/api/run-config.js';
import { configFromForm, formFromRun, type RunFormKind, type RunFormValues } from '../../../../src-renderer/lib/data/run-form.js';

/** The form as New run starts it (new-run.svelte.ts), with model and dataset chosen. */
const FRESH: RunFormValues = formFromRun('ptq', RunConfig.parse({ modelId: 3, datasetId: 2 }));

const form = (kind: RunFormKind, extra: Partial<RunFormValues>): RunFormValues => ({ ...FRESH, kind, ...extra });

/** Start → stored run → Edit as new run → Start again. */
function roundTrip(v: RunFormValues): { sent: RunConfig; again: RunConfig } {
  const sent = RunConfig.parse(configFromForm(v));
  const kind = v.kind === 'budget' ? 'ptq' : v.kind; // a budget's steps are stored as PTQ runs
  const again = RunConfig.parse(configFromForm(formFromRun(kind, sent)));
  return { sent, again };
}

const overrides: RunFormValues['overrides'] = [
  { layer: 'dense', mode: 'float', weightBits: 8, activationBits: 8 },
  { layer: 'conv2d_1', mode: 'bits', weightBits: 4, activationBits: 16 },
];

const CASES: [string, RunFormValues][] = [
  ['PTQ: CLE across ReLU6 as ReLU, high-bias absorption, empirical bias correction, overrides', form('ptq', { cle: true, cleRelu6: 'as-relu', highBiasAbsorption: true, biasCorrection: 'empirical', overrides })],
  ['PTQ: CLE skipping ReLU6, across Flatten, analytic bias correction', form('ptq', { cle: true, cleRelu6: 'skip', cleFlatten: 'cross', biasCorrection: 'analytic', weights: { bits: 4, symmetric: true, narrowRange: false, granularity: 'per-tensor' } })],
  ['PTQ: bias correction alone', form('ptq', { biasCorrection: 'empirical', estimator: 'percentile', percentile: 99.9 })],
  ['PTQ: AdaRound with its settings and CLE', form('ptq', { cle: true, adaround: true, adaroundIterations: 500, adaroundBatchSize: 16, adaroundRegularization: 0.05, calibrationCount: 256 })],
  ['PTQ: CLE, bias correction against the float model, MSE weight ranges', form('ptq', { cle: true, cleRelu6: 'as-relu', biasCorrection: 'empirical-float', weightEstimator: 'mse' })],
  ['sensitivity: a subset and overrides', form('sensitivity', { sensitivitySubset: 250, evalCount: 800, overrides })],
  [
    'QAT: every training setting',
    form('qat', { optimizer: 'sgd', learningRate: 5e-4, momentum: 0.8, batchSize: 32, epochs: 2.5, validationSplit: 0.2, bnFreezeStep: 50, trainingSeed: 7, estimator: 'movingaverage', decay: 0.99 }),
  ],
  ['float training', form('float', { optimizer: 'adam', learningRate: 2e-3, batchSize: 128, epochs: 3, validationSplit: 0, bnFreezeStep: 0 })],
  [
    'a CLI run: split seeds, bins, keep-float unsupported layers, a quantizer axis',
    form('ptq', { calibrationSeed: 5, evalSeed: 3, bins: 4096, unsupported: 'keep-float', estimator: 'entropy', activations: { bits: 16, symmetric: true, narrowRange: false, granularity: 'per-tensor', axis: -1 } }),
  ],
];

for (const [name, v] of CASES) {
  test(`edit as new run round-trips the config: ${name}`, () => {
    const { sent, again } = roundTrip(v);
    assert.deepEqual(again, sent);
  });
}

test('the sent configs hold what the form asked for (so the round trips above are not of empty configs)', () => {
  const [ptq, ptq2, , ada, emf, sens, qat, , cli] = CASES.map(([, v]) => RunConfig.parse(configFromForm(v)));
  assert.deepEqual([emf!.recovery?.biasCorrection, emf!.estimator.weights, emf!.estimator.kind], ['empirical-float', 'mse', 'minmax']);
  assert.equal(ptq!.estimator.weights, undefined, 'the default weight ranges send nothing');
  assert.deepEqual(ptq!.recovery, { cle: true, relu6: 'as-relu', flatten: 'skip', highBiasAbsorption: true, biasCorrection: 'empirical' });
  assert.deepEqual(ptq!.overrides, [{ layer: 'dense', float: true }, { layer: 'conv2d_1', weightBits: 4, activationBits: 16 }]);
  assert.deepEqual(ptq2!.recovery, { cle: true, relu6: 'skip', flatten: 'cross', highBiasAbsorption: false, biasCorrection: 'analytic' });
  assert.deepEqual(ada!.recovery, { cle: true, relu6: 'skip', flatten: 'skip', highBiasAbsorption: false, biasCorrection: 'off', adaround: { iterations: 500, batchSize: 16, regularization: 0.05 } });
  assert.deepEqual(sens!.sensitivity, { subset: 250 });
  assert.equal(sens!.recovery, undefined);
  assert.deepEqual(qat!.training, { optimizer: 'sgd', learningRate: 5e-4, momentum: 0.8, batchSize: 32, epochs: 2.5, validationSplit: 0.2, bnFreezeStep: 50, seed: 7 });
  assert.deepEqual([cli!.calibration.seed, cli!.eval.seed, cli!.estimator.bins, cli!.unsupported, cli!.activations.axis], [5, 3, 4096, 'keep-float', -1]);
});

test('edit as new run fills every recovery field, the subset and the training settings from the stored config', () => {
  const stored = RunConfig.parse({
    modelId: 1,
    datasetId: 1,
    calibration: { count: 64 },
    recovery: { cle: true, relu6: 'as-relu', flatten: 'cross', highBiasAbsorption: true, adaround: { iterations: 100, batchSize: 8, regularization: 0.02 } },
  });
  const f = formFromRun('ptq', stored);
  assert.deepEqual(
    [f.cle, f.cleRelu6, f.cleFlatten, f.highBiasAbsorption, f.biasCorrection, f.adaround, f.adaroundIterations, f.adaroundBatchSize, f.adaroundRegularization],
    [true, 'as-relu', 'cross', true, 'off', true, 100, 8, 0.02],
  );
  // Parts a stored config leaves out come back as the contract's defaults.
  const plain = formFromRun('ptq', RunConfig.parse({ modelId: 1, datasetId: 1 }));
  assert.deepEqual([plain.cle, plain.biasCorrection, plain.adaround, plain.adaroundIterations, plain.sensitivitySubset, plain.epochs, plain.trainingSeed], [false, 'off', false, 2000, 500, 1, 0]);
  assert.equal(formFromRun('sensitivity', RunConfig.parse({ modelId: 1, datasetId: 1, sensitivity: { subset: 123 } })).sensitivitySubset, 123);
});

test('only the kind that uses them gets recovery, the subset, training or a target; a budget sends a PTQ config', () => {
  const all = form('ptq', { cle: true, adaround: true, sensitivitySubset: 99 });
  for (const kind of ['qat', 'float', 'sensitivity', 'budget'] as const) assert.equal(configFromForm({ ...all, kind }).recovery, undefined, kind);
  for (const kind of ['ptq', 'qat', 'float', 'budget'] as const) assert.equal(configFromForm({ ...all, kind }).sensitivity, undefined, kind);
  for (const kind of ['ptq', 'sensitivity', 'budget'] as const) assert.equal(configFromForm({ ...all, kind }).training, undefined, kind);
  // The export target goes with PTQ and QAT runs (both plan and simulate as it computes), not the others.
  const targeted = form('ptq', { target: 'tflite-int8' });
  for (const kind of ['ptq', 'qat'] as const) assert.equal(configFromForm({ ...targeted, kind }).target, 'tflite-int8', kind);
  for (const kind of ['float', 'sensitivity', 'budget'] as const) assert.equal(configFromForm({ ...targeted, kind }).target, undefined, kind);
  assert.equal(formFromRun('qat', RunConfig.parse(configFromForm({ ...targeted, kind: 'qat' }))).target, 'tflite-int8', 'edit as new run keeps a QAT run’s target');
  // The kernels' range estimator is PTQ's (QAT refuses it): sent for PTQ, sensitivity and budget runs.
  const wmse = form('ptq', { weightEstimator: 'mse' });
  for (const kind of ['ptq', 'sensitivity', 'budget'] as const) assert.equal(configFromForm({ ...wmse, kind }).estimator?.weights, 'mse', kind);
  for (const kind of ['qat', 'float'] as const) assert.equal(configFromForm({ ...wmse, kind }).estimator?.weights, undefined, kind);
  assert.equal(formFromRun('ptq', RunConfig.parse(configFromForm(wmse))).weightEstimator, 'mse');
  assert.equal(FRESH.weightEstimator, '');
  // High-bias absorption is part of CLE: ticked without CLE it is not sent.
  assert.equal(configFromForm(form('ptq', { highBiasAbsorption: true, biasCorrection: 'empirical' })).recovery?.highBiasAbsorption, false);
});
