import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accuracyDelta,
  backendTitle,
  deltaSeverity,
  describeConfig,
  formatAccuracy,
  formatBackend,
  formatCompactCount,
  formatConfigSummary,
  formatCount,
  formatDateTime,
  formatDelta,
  formatEstimator,
  formatShape,
  formatWeightShapes,
  hostLabel,
  shortenPath,
  totalParams,
} from '../../../../src-renderer/lib/data/format.js';
import { config } from './fixtures.js';

test('the default config reads as W8 per-channel sym / A8 per-tensor / minmax', () => {
  assert.equal(formatConfigSummary('ptq', config()), 'W8 per-channel sym / A8 per-tensor / minmax');
});

test('config summary follows bits, granularity, symmetry, estimator and overrides', () => {
  const c = config({
    weights: { bits: 4, symmetric: false, narrowRange: false, granularity: 'per-tensor' },
    activations: { bits: 8, symmetric: true, narrowRange: false, granularity: 'per-tensor' },
    estimator: { kind: 'percentile', percentile: 99.9 },
    overrides: [{ layer: 'dense_1', float: true }],
  });
  assert.equal(formatConfigSummary('qat', c), 'W4 per-tensor asym / A8 per-tensor sym / percentile 99.9 +1 override');
  const two = config({ overrides: [{ layer: 'a', float: true }, { layer: 'b', weightBits: 4 }] });
  assert.match(formatConfigSummary('ptq', two), / \+2 overrides$/);
});

test('a float run has no quantizer to summarise', () => {
  assert.equal(formatConfigSummary('float', config()), 'float baseline');
  assert.doesNotMatch(describeConfig('float', config()), /Weights:/);
});

test('estimators print their parameter when they have one', () => {
  assert.equal(formatEstimator(config().estimator), 'minmax');
  assert.equal(formatEstimator(config({ estimator: { kind: 'movingaverage' } }).estimator), 'movingaverage 0.999');
  assert.equal(formatEstimator(config({ estimator: { kind: 'mse' } }).estimator), 'mse');
});

test('describeConfig spells the whole config out, one line each', () => {
  const text = describeConfig('ptq', config({ overrides: [{ layer: 'conv1', weightBits: 4, activationBits: 6 }] }));
  const lines = text.split('\n');
  assert.ok(lines.includes('Weights: 8-bit per-channel, symmetric, narrow range'));
  assert.ok(lines.includes('Activations: 8-bit per-tensor, asymmetric, full range'));
  assert.ok(lines.includes('Range estimator: minmax'));
  assert.ok(lines.includes('Calibration: 1000 samples (seed 0)'));
  assert.ok(lines.includes('Override conv1: W4 A6'));
  assert.ok(!lines.some((l) => l.startsWith('Accuracy recovery')));
  const recovered = describeConfig('ptq', config({ recovery: { cle: true, relu6: 'as-relu', adaround: { iterations: 500 } } })).split('\n');
  assert.ok(recovered.includes('Accuracy recovery: CLE (ReLU6 as ReLU), AdaRound (500 steps × 32, λ 0.01)'), recovered.join(' | '));
  assert.ok(!lines.some((l) => l.startsWith('Export target')));
  assert.ok(describeConfig('qat', config({ target: 'tflite-int8' })).split('\n').includes('Export target: tflite-int8 (planned and evaluated as it computes)'));
});

test('accuracies are fractions printed as percent; missing ones as a dash', () => {
  assert.equal(formatAccuracy(0.91234), '91.23 %');
  assert.equal(formatAccuracy(1), '100.00 %');
  assert.equal(formatAccuracy(null), '–');
  assert.equal(formatAccuracy(Number.NaN), '–');
});

test('delta is quant minus float in percentage points', () => {
  const d = accuracyDelta(0.9, 0.8958);
  assert.ok(d !== null && Math.abs(d - -0.42) < 1e-9);
  assert.equal(formatDelta(d), '−0.42 pt');
  assert.equal(formatDelta(accuracyDelta(0.9, 0.901)), '+0.10 pt');
  assert.equal(accuracyDelta(null, 0.9), null);
  assert.equal(accuracyDelta(0.9, null), null);
  assert.equal(formatDelta(null), '–');
});

test('a delta that rounds to zero has no sign', () => {
  assert.equal(formatDelta(-0.0001), '±0.00 pt');
  assert.equal(formatDelta(0), '±0.00 pt');
});

test('delta severity: within half a point is good, up to two points a warning', () => {
  assert.equal(deltaSeverity(null), 'none');
  assert.equal(deltaSeverity(0.3), 'good');
  assert.equal(deltaSeverity(-0.5), 'good');
  assert.equal(deltaSeverity(-1.2), 'warn');
  assert.equal(deltaSeverity(-2), 'warn');
  assert.equal(deltaSeverity(-2.01), 'bad');
});

test('counts group thousands; compact counts use k / M / G', () => {
  assert.equal(formatCount(0), '0');
  assert.equal(formatCount(999), '999');
  assert.equal(formatCount(1234567), '1,234,567');
  assert.equal(formatCount(-1000), '−1,000');
  assert.equal(formatCompactCount(812), '812');
  assert.equal(formatCompactCount(45200), '45.2 k');
  assert.equal(formatCompactCount(1234567), '1.23 M');
  assert.equal(formatCompactCount(3e9), '3 G');
});

test('shapes print with × and unknown dimensions as ?', () => {
  assert.equal(formatShape([28, 28, 1]), '28×28×1');
  assert.equal(formatShape([]), 'scalar');
  assert.equal(formatShape([-1, 10]), '?×10');
  assert.equal(formatWeightShapes({ kernel: [3, 3, 1, 16], bias: [16] }), 'kernel 3×3×1×16 · bias 16');
  assert.equal(formatWeightShapes({}), '–');
});

test('total parameters sum the layers', () => {
  assert.equal(totalParams([{ params: 160 }, { params: 0 }, { params: 4624 }]), 4784);
  assert.equal(totalParams([]), 0);
});

test('dates print in local time as YYYY-MM-DD HH:MM', () => {
  const local = new Date(2025, 10, 3, 9, 5, 42);
  assert.equal(formatDateTime(local.toISOString()), '2025-11-03 09:05');
  assert.equal(formatDateTime(null), '–');
  assert.equal(formatDateTime('not a date'), 'not a date');
});

test('long paths are shortened in the middle, keeping the file name', () => {
  assert.equal(shortenPath('/tmp/studio.db'), '/tmp/studio.db');
  const long = '/home/someone/.local/share/quant-studio/projects/vision/experiments/studio.db';
  const short = shortenPath(long, 40);
  assert.ok(short.length <= 41, short);
  assert.ok(short.endsWith('/studio.db'), short);
  assert.ok(short.includes('…'), short);
  assert.ok(short.startsWith('/home'), short);
  const win = 'C:\\Users\\someone\\AppData\\Roaming\\Quantization Calibration Studio\\data\\studio.db';
  const wshort = shortenPath(win, 40);
  assert.ok(wshort.endsWith('\\studio.db') && wshort.startsWith('C:') && wshort.length <= 41, wshort);
  const huge = `/${'x'.repeat(100)}.db`;
  assert.ok(shortenPath(huge, 30).length <= 31);
});

test('backend label and tooltip name the fallbacks and their reasons', () => {
  const backend = {
    name: 'wasm' as const,
    threads: 4,
    fallbacks: [{ name: 'tensorflow' as const, reason: "Cannot find module '@tensorflow/tfjs-node'" }],
  };
  assert.equal(formatBackend(backend), 'wasm · 4 threads');
  const title = backendTitle(backend);
  assert.match(title, /^Compute backend: wasm \(4 threads\)/);
  assert.match(title, /\ntensorflow: Cannot find module '@tensorflow\/tfjs-node'/);
  assert.match(backendTitle({ name: 'tensorflow', threads: 1, fallbacks: [] }), /preferred backend is in use/);
  assert.equal(formatBackend({ name: 'cpu', threads: 1, fallbacks: [] }), 'cpu');
});

test('hosts are called desktop and browser', () => {
  assert.equal(hostLabel('electron'), 'desktop');
  assert.equal(hostLabel('web'), 'browser');
  assert.equal(hostLabel('desktop'), 'desktop');
});
