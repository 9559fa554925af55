import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunConfig, defaultRunName } from '../../../src-main/api/run-config.js';

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
