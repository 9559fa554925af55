// The Compare view's config diff and the run-list helpers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configDiff, describeOverride, flattenConfig } from '../../../../src-renderer/lib/data/config-diff.js';
import { filterRuns, foldedBatchNorms, formatEta, progressFraction } from '../../../../src-renderer/lib/data/progress.js';
import { config, run } from './fixtures.js';

const base = { kind: 'ptq' as const, modelName: 'cnn', datasetName: 'fmnist' };

test('only differing fields are listed, one value per run', () => {
  const perTensor = { ...base, config: config({ weights: { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-tensor' } }) };
  const perChannel = { ...base, config: config({ weights: { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' } }) };
  const diff = configDiff([perTensor, perChannel]);
  assert.deepEqual(diff, [{ key: 'weights.granularity', label: 'Weights granularity', values: ['per-tensor', 'per-channel'] }]);
});

test('identical configs and single runs have no diff', () => {
  const a = { ...base, config: config() };
  assert.deepEqual(configDiff([a, { ...a }]), []);
  assert.deepEqual(configDiff([a]), []);
});

test('fields only some runs have (an override, a percentile) count as differing', () => {
  const a = { ...base, config: config() };
  const b = { ...base, config: config({ overrides: [{ layer: 'conv1', float: true }], estimator: { kind: 'percentile', percentile: 99.9 } }) };
  const diff = configDiff([a, b]);
  const keys = diff.map((r) => r.key);
  assert.deepEqual(keys, ['estimator.kind', 'estimator.percentile', 'estimator.bins', 'override.conv1']);
  assert.deepEqual(diff.find((r) => r.key === 'override.conv1')!.values, ['–', 'float']);
  assert.deepEqual(diff.find((r) => r.key === 'estimator.percentile')!.values, ['–', '99.9']);
});

test('three runs: a field differs if any run differs', () => {
  const mk = (bits: number) => ({ ...base, config: config({ activations: { bits, symmetric: false, narrowRange: false, granularity: 'per-tensor' } }) });
  const diff = configDiff([mk(8), mk(8), mk(16)]);
  assert.deepEqual(diff, [{ key: 'activations.bits', label: 'Activations bits', values: ['8', '8', '16'] }]);
});

test('float runs have no quantizer fields; kind differs', () => {
  const flat = flattenConfig({ ...base, kind: 'float', config: config() });
  assert.ok(!flat.some(([k]) => k.startsWith('weights.')));
  const diff = configDiff([{ ...base, config: config() }, { ...base, kind: 'float', config: config() }]);
  assert.equal(diff[0]!.key, 'kind');
  assert.deepEqual(diff[0]!.values, ['PTQ', 'FLOAT']);
});

test('accuracy recovery: a run without it reads as off; ReLU6 and Flatten handling show only with CLE', () => {
  const plain = { ...base, config: config() };
  const cle = { ...base, config: config({ recovery: { cle: true, relu6: 'as-relu', biasCorrection: 'empirical' } }) };
  assert.deepEqual(configDiff([plain, cle]), [
    { key: 'recovery.cle', label: 'Cross-layer equalization', values: ['off', 'on'] },
    { key: 'recovery.biasCorrection', label: 'Bias correction', values: ['off', 'empirical'] },
    // Fields only a later run has come after the first run's.
    { key: 'recovery.relu6', label: 'CLE across ReLU6', values: ['–', 'as ReLU'] },
    { key: 'recovery.flatten', label: 'CLE across Flatten', values: ['–', 'skip'] },
    { key: 'recovery.highBiasAbsorption', label: 'High-bias absorption', values: ['–', 'off'] },
  ]);
  assert.ok(!flattenConfig({ ...base, kind: 'qat', config: config() }).some(([k]) => k.startsWith('recovery.')));
  const crossed = { ...base, config: config({ recovery: { cle: true, relu6: 'as-relu', flatten: 'cross', biasCorrection: 'empirical' } }) };
  assert.deepEqual(configDiff([cle, crossed]), [{ key: 'recovery.flatten', label: 'CLE across Flatten', values: ['skip', 'cross'] }]);
});

test('weight range estimator: absent reads as the one the estimator implies (mse with mse, else minmax); not on QAT runs', () => {
  const plain = { ...base, config: config() };
  const wmse = { ...base, config: config({ estimator: { kind: 'minmax', weights: 'mse' } }) };
  assert.deepEqual(configDiff([plain, wmse]), [{ key: 'estimator.weights', label: 'Weight range estimator', values: ['minmax', 'mse'] }]);
  const mse = { ...base, config: config({ estimator: { kind: 'mse' } }) };
  assert.deepEqual(configDiff([mse, wmse]).map((r) => r.key), ['estimator.kind', 'estimator.bins']);
  assert.ok(!flattenConfig({ ...base, kind: 'qat', config: config() }).some(([k]) => k === 'estimator.weights'));
});

test('AdaRound: off, or its steps, batch and λ', () => {
  const plain = { ...base, config: config() };
  const ada = { ...base, config: config({ recovery: { adaround: { iterations: 500 } } }) };
  assert.deepEqual(configDiff([plain, ada]), [{ key: 'recovery.adaround', label: 'AdaRound', values: ['off', '500 steps × 32, λ 0.01'] }]);
});

test('export target: a run without one reads as none (the studio simulation)', () => {
  const plain = { ...base, config: config() };
  const tflite = { ...base, config: config({ target: 'tflite-int8' }) };
  assert.deepEqual(configDiff([plain, tflite]), [{ key: 'target', label: 'Export target', values: ['none', 'tflite-int8'] }]);
});

test('overrides read as what they do', () => {
  assert.equal(describeOverride({ layer: 'a', float: true }), 'float');
  assert.equal(describeOverride({ layer: 'a', weightBits: 16, activationBits: 8 }), 'W16 A8');
  assert.equal(describeOverride({ layer: 'a' }), 'no change');
});

test('time left reads like a person would say it', () => {
  assert.equal(formatEta(null), 'estimating time left…');
  assert.equal(formatEta(8.2), '9 s left');
  assert.equal(formatEta(75), '1 min 15 s left');
  assert.equal(formatEta(3 * 3600 + 120), '3 h 2 min left');
  assert.equal(progressFraction({ done: 5, total: 10 }), 0.5);
  assert.equal(progressFraction({ done: 5, total: 0 }), 0);
  assert.equal(progressFraction({ done: 15, total: 10 }), 1);
});

test('the runs filter needs every word somewhere in the row', () => {
  const runs = [run(1, { name: 'cnn_8w8a_perch' }), run(2, { name: 'cnn_4w8a', status: 'failed' }), run(3, { kind: 'qat', name: 'other' })];
  assert.deepEqual(filterRuns(runs, '').map((r) => r.id), [1, 2, 3]);
  assert.deepEqual(filterRuns(runs, 'CNN failed').map((r) => r.id), [2]);
  assert.deepEqual(filterRuns(runs, 'qat').map((r) => r.id), [3]);
  assert.deepEqual(filterRuns(runs, 'per-channel').map((r) => r.id), [1, 2, 3], 'the config summary is searched too');
});

test('BN folds are read from either summary shape', () => {
  assert.deepEqual(foldedBatchNorms({ folded: [{ batchNorm: 'bn1', layer: 'conv1', op: 'Conv2D' }, { bn: 'bn2', into: 'conv2' }, { junk: 1 }] }), [
    { batchNorm: 'bn1', into: 'conv1' },
    { batchNorm: 'bn2', into: 'conv2' },
  ]);
  assert.deepEqual(foldedBatchNorms({}), []);
  assert.deepEqual(foldedBatchNorms(null), []);
});
