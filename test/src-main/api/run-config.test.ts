import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunConfig, adaroundProblem, defaultRunName, recoveryOn } from '../../../src-main/api/run-config.js';

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
  assert.deepEqual(c.recovery, { cle: true, relu6: 'skip', highBiasAbsorption: false, biasCorrection: 'off' });
  assert.deepEqual(RunConfig.parse(JSON.parse(JSON.stringify(c))), c);
  assert.equal(defaultRunName('ptq', 'cnn', RunConfig.parse({ modelId: 1, datasetId: 2, recovery: { cle: true, relu6: 'as-relu', biasCorrection: 'analytic' } })), 'cnn_8w8a_sym_narrow_perch_minmax_cle6_bcana');
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
