// Pure helpers behind issue #17's renderer items: the virtual window of the
// Runs table, "Edit as new run", overall progress across phases, a
// per-channel run's own histogram grid, the input left out of the SQNR
// chart, labelled integer-reference figures, model origins, picked files,
// axis padding and the glossary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JobProgress, TensorRecord } from '../../../../src-main/api/contract.js';
import { RunConfig } from '../../../../src-main/api/run-config.js';
import { padRange } from '../../../../src-renderer/lib/data/axis.js';
import { GLOSSARY, glossaryIdForField, glossaryTip, searchGlossary } from '../../../../src-renderer/lib/data/glossary.js';
import { channelGrid, gridLevels } from '../../../../src-renderer/lib/data/histogram.js';
import { integerFigures } from '../../../../src-renderer/lib/data/integer-labels.js';
import { modelOrigin } from '../../../../src-renderer/lib/data/model-origin.js';
import { filesToUpload } from '../../../../src-renderer/lib/data/picked-files.js';
import { advanceProgress, PHASE_SPANS, type RunProgress } from '../../../../src-renderer/lib/data/progress.js';
import { accuracyBasis, layerRows, summaryLines } from '../../../../src-renderer/lib/data/run-detail.js';
import { formFromRun } from '../../../../src-renderer/lib/data/run-form.js';
import { rankLayers, sqnrChartRows } from '../../../../src-renderer/lib/data/sqnr.js';
import { rowWindow } from '../../../../src-renderer/lib/data/virtual-rows.js';

test('virtual rows: 1,000 runs of 32 px render a viewport plus overscan, and the padding keeps the full scroll height', () => {
  const w = rowWindow(1000, 32, 16_000, 640, 8);
  // Row 500 is at the top of the viewport (16,000 / 32); 20 rows fit in 640 px.
  assert.deepEqual({ start: w.start, end: w.end }, { start: 492, end: 528 });
  assert.equal(w.padTop, 492 * 32);
  assert.equal(w.padBottom, (1000 - 528) * 32);
  assert.equal(w.padTop + (w.end - w.start) * 32 + w.padBottom, 1000 * 32);
  // Top and bottom clamp; scrolled past the end still shows the last rows.
  assert.deepEqual(rowWindow(1000, 32, 0, 640, 8), { start: 0, end: 28, padTop: 0, padBottom: 972 * 32 });
  const end = rowWindow(1000, 32, 10 ** 7, 640, 8);
  assert.equal(end.end, 1000);
  assert.ok(end.start < 1000 && end.start >= 1000 - 8 - 1);
  assert.deepEqual(rowWindow(0, 32, 0, 640), { start: 0, end: 0, padTop: 0, padBottom: 0 });
  // Before the viewport is measured, a screenful rather than nothing.
  assert.ok(rowWindow(1000, 32, 0, 0).end > 20);
});

test('edit as new run: every field of a stored config comes back, overrides keep the run’s bits on the side they leave alone', () => {
  const stored = RunConfig.parse({
    modelId: 3,
    datasetId: 2,
    calibration: { count: 500, seed: 0 },
    eval: { count: 1500, seed: 4 },
    weights: { bits: 4, symmetric: true, narrowRange: false, granularity: 'per-tensor' },
    activations: { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-tensor' },
    estimator: { kind: 'percentile', percentile: 99.9 },
    overrides: [{ layer: 'dense', float: true }, { layer: 'conv2d', activationBits: 16 }],
    training: { epochs: 2, learningRate: 0.0005 },
  });
  const f = formFromRun('qat', stored);
  assert.equal(f.kind, 'qat');
  assert.deepEqual([f.modelId, f.datasetId, f.calibrationCount, f.evalCount], [3, 2, 500, 1500]);
  assert.deepEqual(f.weights, { bits: 4, symmetric: true, narrowRange: false, granularity: 'per-tensor' });
  assert.equal(f.estimator, 'percentile');
  assert.equal(f.percentile, 99.9);
  assert.deepEqual(f.overrides, [
    { layer: 'dense', mode: 'float', weightBits: 4, activationBits: 8 },
    { layer: 'conv2d', mode: 'bits', weightBits: 4, activationBits: 16 },
  ]);
  assert.equal(f.epochs, 2);
  assert.equal(f.learningRate, 0.0005);
  assert.equal(f.evalSeed, 4);
});

test('overall progress: QAT at 50 % of training then 13 % of evaluation goes forward, names the phase, estimates the whole run', () => {
  const p = (phase: string, done: number, total: number, etaSeconds: number | null = null): JobProgress => ({ runId: 7, phase, done, total, etaSeconds });
  let cur: RunProgress | undefined;
  cur = advanceProgress(cur, 'qat', p('float baseline', 200, 200));
  assert.equal(cur.overall, PHASE_SPANS.qat['float baseline']![1]);
  cur = advanceProgress(cur, 'qat', p('train', 50, 100, 60));
  const [t0, t1] = PHASE_SPANS.qat['train']!;
  assert.equal(cur.overall, t0 + 0.5 * (t1 - t0));
  // 60 s for the half of training left (0.4 of the run) -> 150 s per run, times the 0.52 left.
  assert.ok(Math.abs(cur.overallEta! - (60 / (0.5 * (t1 - t0))) * (1 - cur.overall)) < 1e-9);
  const midTrain = cur.overall;
  cur = advanceProgress(cur, 'qat', p('evaluate', 13, 100));
  assert.ok(cur.overall > midTrain, `${cur.overall} > ${midTrain}`);
  assert.equal(cur.phase, 'evaluate');
  // A phase it does not know, or a step back inside one, never lowers the figure.
  const before = cur.overall;
  assert.equal(advanceProgress(cur, 'qat', p('something new', 0, 10)).overall, before);
  assert.equal(advanceProgress(cur, 'qat', p('train', 1, 100)).overall, before);
  assert.equal(advanceProgress(undefined, 'ptq', p('evaluate', 100, 100)).overall, 1);
  // Such a phase (a PTQ run's AdaRound) shows its own time left.
  assert.equal(advanceProgress(undefined, 'ptq', p('adaround', 30, 100, 42)).overallEta, 42);
});

test('a per-channel weight draws its channel’s own grid: step scale_c, range ±127·scale_c, finer than the envelope the run stored', () => {
  // Envelope: the widest channel has |w| ≤ 4.905 -> scale 4.905 / 127 (the per-tensor grid the issue saw for every run).
  const envelope = { bits: 8, narrowRange: true, scale: 4.905 / 127, zeroPoint: 128 };
  const vectors = { scale: [4.905 / 127, 0.5 / 127, 0.05 / 127], zeroPoint: [128, 128, 128] };
  const g = channelGrid({ bits: 8, narrowRange: true }, vectors, 1)!;
  assert.equal(g.grid.scale, 0.5 / 127);
  assert.ok(Math.abs(g.rangeMin + 0.5) < 1e-12 && Math.abs(g.rangeMax - 0.5) < 1e-12);
  // Over the same ±0.5 window, the channel's grid has ~10x the levels of the envelope's.
  const own = gridLevels(g.grid, -0.5, 0.5, 1000).values.length;
  const env = gridLevels(envelope, -0.5, 0.5, 1000).values.length;
  assert.equal(own, 255);
  assert.equal(env, 2 * Math.floor(0.5 / envelope.scale) + 1);
  assert.ok(own > 9 * env);
  assert.equal(channelGrid({ bits: 8, narrowRange: true }, vectors, 3), null);
  assert.equal(channelGrid({ bits: 8, narrowRange: true }, { scale: [0], zeroPoint: [0] }, 0), null);
});

function tensor(layer: string, role: string, sqnr: number | null, extra: Partial<TensorRecord> = {}): TensorRecord {
  return { layer, role, granularity: 'per-tensor', axis: null, bits: 8, symmetric: false, narrowRange: false, channels: 1, min: 0, max: 1, scale: 1 / 255, zeroPoint: 0, sqnr, clipRate: 0, ...extra };
}

test('the activation SQNR chart leaves the model input out (145 dB against 33-41), and says which; the weight chart keeps every row', () => {
  // The bundled sample's figures (studio calibrate, per-channel minmax).
  const tensors = [
    tensor('conv2d', 'weight', 48.56, { granularity: 'per-channel', channels: 32 }),
    tensor('conv2d_input', 'input', 144.96),
    tensor('conv2d', 'activation', 35.1),
    tensor('conv2d_1', 'activation', 33.92),
    tensor('dense', 'activation', 40.59),
  ];
  const ranking = rankLayers([{ id: 1, tensors }]);
  const act = sqnrChartRows(ranking, 'activation');
  assert.deepEqual(act.rows.map((r) => r.layer), ['conv2d_1', 'conv2d', 'dense']);
  assert.deepEqual(act.excluded.map((r) => [r.layer, r.activation[0]]), [['conv2d_input', 144.96]]);
  assert.equal(sqnrChartRows(ranking, 'weight').rows.length, ranking.length);
  // Per-layer rows of the run detail: weight and activation side by side, the input as an activation.
  const rows = layerRows(tensors);
  assert.deepEqual(rows.map((r) => [r.layer, r.weight?.sqnr ?? null, r.activation?.sqnr ?? null]), [
    ['conv2d', 48.56, 35.1],
    ['conv2d_input', null, 144.96],
    ['conv2d_1', null, 33.92],
    ['dense', null, 40.59],
  ]);
});

test('what an accuracy measured, and the summary lines of a run', () => {
  const config = RunConfig.parse({ modelId: 1, datasetId: 1, eval: { count: 2000, seed: 1 } });
  const summary = { eval: { count: 2000 }, evaluation: { runtime: 'onnxruntime', batchSize: 256, seconds: 1.61 }, calibration: { count: 1000, runtime: 'onnxruntime', seconds: 0.17 }, folded: [{ batchNorm: 'batch_normalization', layer: 'conv2d' }], backend: 'wasm' };
  assert.equal(accuracyBasis({ kind: 'ptq', config, summary }), '2,000 eval samples (seed 1), float model and the studio simulation of the quantized model (fake quantization) on onnxruntime');
  assert.equal(accuracyBasis({ kind: 'float', config, summary: {} }), '2,000 eval samples (seed 1), float model');
  assert.match(accuracyBasis({ kind: 'ptq', config, summary: { ...summary, evaluation: { ...summary.evaluation, floatFrom: 12 } } }), /on onnxruntime; float figures from run 12 \(same float graph, samples and session\)$/);
  assert.deepEqual(summaryLines(summary), [
    ['Calibration', '1000 samples, on onnxruntime, 0.17 s'],
    ['Evaluation', 'on onnxruntime, batch 256, 1.61 s'],
    ['BatchNorm folded', 'batch_normalization → conv2d'],
    ['Backend', 'wasm'],
  ]);
});

test('integer reference figures get labels, never raw keys; unknown keys keep a readable name; the description is apart', () => {
  const { figures, description } = integerFigures([
    ['reference', 'studio integer reference: int8 …'],
    ['count', 2000],
    ['accuracy', 0.897],
    ['agreementWithRuntime', 0.9995],
    ['maxAbsDiffRuntime', 0.0039],
    ['futureFigure', 3],
  ]);
  assert.equal(description, 'studio integer reference: int8 …');
  assert.deepEqual(
    figures.map((f) => [f.label, f.text]),
    [
      ['Accuracy of the integer reference', '89.70 %'],
      ['Top-1 agreement with the runtime', '99.95 %'],
      ['Max |output difference| from the runtime', '3.90e-3'],
      ['Eval samples', '2000'],
      ['future figure', '3'],
    ],
  );
  assert.ok(figures.every((f) => !/[a-z][A-Z]/.test(f.label)), 'no camelCase label');
});

test('a model a QAT run trained shows as “from QAT run #N”, not “imported”', () => {
  const runs = [{ id: 12, kind: 'qat' as const }, { id: 13, kind: 'float' as const }];
  assert.deepEqual(modelOrigin({ source: 'imported', format: 'trained', description: 'trained by run 12 (cnn_qat)' }, runs), { label: 'from QAT run #12', runId: 12 });
  assert.equal(modelOrigin({ source: 'imported', format: 'trained', description: 'trained by run 13 (cnn_float)' }, runs).label, 'from float training run #13');
  assert.equal(modelOrigin({ source: 'imported', format: 'trained', description: 'trained by run 99 (gone)' }, runs).label, 'from run #99');
  assert.equal(modelOrigin({ source: 'imported', format: 'tfjs-layers', description: '' }, runs).label, 'imported');
  assert.equal(modelOrigin({ source: 'builtin', format: 'tfjs-layers', description: '' }, runs).label, 'built-in');
});

test('picked files: a TF.js model folder uploads flat (hidden files left out); a folder with subfolders is refused naming the file', () => {
  const f = (name: string, rel = '') => ({ name, webkitRelativePath: rel });
  const ok = filesToUpload([f('model.json', 'cnn/model.json'), f('group1-shard1of1.bin', 'cnn/group1-shard1of1.bin'), f('.DS_Store', 'cnn/.DS_Store')]);
  assert.ok('files' in ok);
  assert.deepEqual(ok.files.map((x) => x.name), ['model.json', 'group1-shard1of1.bin']);
  assert.ok('files' in filesToUpload([f('train-images-idx3-ubyte')]));
  const nested = filesToUpload([f('a.png', 'imgs/cat/a.png')]);
  assert.ok('error' in nested && nested.error.startsWith('imgs/cat/a.png: the chosen folder has subfolders'));
  assert.ok('error' in filesToUpload([]));
});

test('value axes get room for ticks: 8 % padding, a span for a flat curve, a default for no data', () => {
  assert.deepEqual(padRange(0.7, 0.95), [0.7 - 0.25 * 0.08, 0.95 + 0.25 * 0.08]);
  const [lo, hi] = padRange(0.5, 0.5);
  assert.ok(lo < 0.5 && hi > 0.5 && Math.abs(hi - lo - 0.005) < 1e-12);
  assert.deepEqual(padRange(0, 0), [-0.5, 0.5]);
  assert.deepEqual(padRange(null, null), [0, 1]);
});

test('glossary: unique ids, every term the issue names, tooltips and search read the same text, config fields map to terms', () => {
  const ids = GLOSSARY.map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length);
  for (const id of ['bits', 'granularity', 'symmetric', 'narrow-range', 'minmax', 'lastvalue', 'movingaverage', 'percentile', 'mse', 'entropy', 'sqnr', 'clip-rate'] as const) {
    assert.ok(ids.includes(id), id);
    assert.ok(glossaryTip(id).length > 40, id);
  }
  assert.deepEqual(searchGlossary('half a step outside').map((e) => e.id), ['clip-rate']);
  assert.equal(searchGlossary('').length, GLOSSARY.length);
  assert.equal(glossaryIdForField('weights.narrowRange'), 'narrow-range');
  assert.equal(glossaryIdForField('activations.granularity'), 'granularity');
  assert.equal(glossaryIdForField('estimator.kind'), 'estimator');
  assert.equal(glossaryIdForField('kind'), null);
  assert.equal(glossaryIdForField('calibration.count'), null);
});
