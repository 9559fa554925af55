import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunConfig, adaroundProblem, defaultRunName, isEmpirical, recoveryOn, weightEstimator } from '../../../src-main/api/run-config.js';

test('defaults fill a minimal run config', () => {
  const c = RunConfig.parse({ modelId: 1, datasetId: 2 });
  assert.equal(c.weights.granularity, 'per-channel');
  assert.equal(c.activations.bits, 8);
  assert.equal(c.estimator.kind, 'minmax');
});

test('bits outside 2..16 are refused with the reason', () => {
  const r = RunConfig.safeParse({ modelId: 1, datasetId: 2, weights: { bits: 1, symmetric: true, narrowRange: true, granularity: 'per-tensor' } });
  assert.equal(r.success, false);
  assert.match(JSON.stringify(r.error?.issues), /bits must be between 2 and 16/);
});

test('default run names read like the config', () => {
  const c = RunConfig.parse({ modelId: 1, datasetId: 2 });
  assert.equal(defaultRunName('ptq', 'Fashion CNN', c), 'fashion_cnn_8w8a_sym_narrow_perch_minmax');
  const t = RunConfig.parse({ modelId: 1, datasetId: 2, overrides: [{ layer: 'dense_1', float: true }] });
  assert.equal(defaultRunName('qat', 'cnn', t), 'cnn_8w8a_sym_narrow_perch_minmax_qat_dense1float');
});

test('accuracy recovery: absent in older configs, defaults filled, round-trips through JSON, unknown values refused', () => {
  const old = RunConfig.parse({ modelId: 1, datasetId: 2 });
  assert.equal(old.recovery, undefined);
  const c = RunConfig.parse({ modelId: 1, datasetId: 2, recovery: { cle: true } });
  assert.deepEqual(c.recovery, { cle: true, relu6: 'skip', flatten: 'skip', highBiasAbsorption: false, biasCorrection: 'off' });
  assert.deepEqual(RunConfig.parse(JSON.parse(JSON.stringify(c))), c);
  assert.equal(defaultRunName('ptq', 'cnn', RunConfig.parse({ modelId: 1, datasetId: 2, recovery: { cle: true, relu6: 'as-relu', biasCorrection: 'analytic' } })), 'cnn_8w8a_sym_narrow_perch_minmax_cle6_bcana');
  assert.equal(defaultRunName('ptq', 'cnn', RunConfig.parse({ modelId: 1, datasetId: 2, recovery: { cle: true, flatten: 'cross' } })), 'cnn_8w8a_sym_narrow_perch_minmax_cleflat');
  assert.equal(RunConfig.safeParse({ modelId: 1, datasetId: 2, recovery: { cle: true, flatten: 'always' } }).success, false);
  const bad = RunConfig.safeParse({ modelId: 1, datasetId: 2, recovery: { biasCorrection: 'adaround' } });
  assert.equal(bad.success, false);
  assert.equal(RunConfig.safeParse({ modelId: 1, datasetId: 2, recovery: { cle: true, iterations: 3 } }).success, false);
});

test('AdaRound: off when absent, AIMET’s defaults but 2,000 steps, a name part, and the refusals named with their numbers', () => {
  const c = RunConfig.parse({ modelId: 1, datasetId: 2, recovery: { adaround: {} } });
  assert.deepEqual(c.recovery?.adaround, { iterations: 2000, batchSize: 32, regularization: 0.01 });
  assert.deepEqual(RunConfig.parse(JSON.parse(JSON.stringify(c))), c);
  assert.equal(defaultRunName('ptq', 'dw', c), 'dw_8w8a_sym_narrow_perch_minmax_adaround2000');
  assert.equal(recoveryOn(c.recovery), true);
  assert.equal(adaroundProblem(c), null);
  assert.equal(adaroundProblem(RunConfig.parse({ modelId: 1, datasetId: 2, calibration: { count: 20 }, recovery: { adaround: {} } })), 'AdaRound needs at least one batch of 32 calibration samples; the calibration split has 20');
  assert.match(adaroundProblem(RunConfig.parse({ modelId: 1, datasetId: 2, recovery: { adaround: {}, biasCorrection: 'empirical' } }))!, /AdaRound and empirical bias correction do not go together/);
  assert.equal(RunConfig.safeParse({ modelId: 1, datasetId: 2, recovery: { adaround: { iterations: 0 } } }).success, false);
  assert.equal(RunConfig.safeParse({ modelId: 1, datasetId: 2, recovery: { adaround: { steps: 10 } } }).success, false);
});

test('the kernels’ range estimator: absent follows the estimator (mse with mse, else minmax), set it wins; a name part only when it differs; QAT-only kinds refused', () => {
  const est = (e: Record<string, unknown>) => RunConfig.parse({ modelId: 1, datasetId: 2, estimator: e }).estimator;
  assert.equal(weightEstimator(est({ kind: 'minmax' })).kind, 'minmax');
  assert.equal(weightEstimator(est({ kind: 'percentile' })).kind, 'minmax');
  assert.equal(weightEstimator(est({ kind: 'mse' })).kind, 'mse');
  assert.equal(weightEstimator(est({ kind: 'minmax', weights: 'mse' })).kind, 'mse');
  assert.equal(weightEstimator(est({ kind: 'mse', weights: 'minmax' })).kind, 'minmax');
  // The histogram settings travel with it (the mse search's bins).
  assert.equal(weightEstimator(est({ kind: 'entropy', bins: 512, weights: 'mse' })).bins, 512);
  assert.equal(est({ kind: 'minmax' }).weights, undefined);
  assert.equal(RunConfig.safeParse({ modelId: 1, datasetId: 2, estimator: { kind: 'minmax', weights: 'entropy' } }).success, false);
  const named = (e: Record<string, unknown>) => defaultRunName('ptq', 'cnn', RunConfig.parse({ modelId: 1, datasetId: 2, estimator: e }));
  assert.equal(named({ kind: 'minmax', weights: 'mse' }), 'cnn_8w8a_sym_narrow_perch_minmax_wmse');
  assert.equal(named({ kind: 'minmax', weights: 'minmax' }), 'cnn_8w8a_sym_narrow_perch_minmax');
  assert.equal(named({ kind: 'mse', weights: 'minmax' }), 'cnn_8w8a_sym_narrow_perch_mse_wminmax');
});

test('empirical bias correction against the float model: its own value, name part, and an empirical kind', () => {
  const c = RunConfig.parse({ modelId: 1, datasetId: 2, recovery: { cle: true, biasCorrection: 'empirical-float' } });
  assert.equal(c.recovery?.biasCorrection, 'empirical-float');
  assert.equal(defaultRunName('ptq', 'cnn', c), 'cnn_8w8a_sym_narrow_perch_minmax_cle_bcempf');
  assert.ok(isEmpirical('empirical-float') && isEmpirical('empirical') && !isEmpirical('analytic') && !isEmpirical('off') && !isEmpirical(undefined));
  assert.match(adaroundProblem({ recovery: { ...c.recovery!, adaround: { iterations: 10, batchSize: 4, regularization: 0.01 } }, calibration: c.calibration }) ?? '', /empirical-float bias correction do not go together/);
});
