// The Export view's pure helpers: destination names per format, input checks,
// overall progress across steps and verification passes, and reading the
// stored verification and audit of an export.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { ExportFormatInfo } from '../../../../src-main/api/contract.js';
import { RunConfig, type RunConfigInput } from '../../../../src-main/api/run-config.js';
import { prepare } from '../../../../src-main/engine/prepare.js';
import { activationTypeOf } from '../../../../src-main/engine/targets/tflite/int16.js';
import { readTfjsLayersModel } from '../../../../src-main/io/models/tfjs-layers.js';
import { ROOT } from '../../../src-main/engine/ptq/ptq-fixtures.js';
import {
  defaultExportName,
  destinationProblem,
  exportFraction,
  exportTarget,
  floatModelBytes,
  formatBytes,
  integerIoProblem,
  readAudit,
  readVerification,
  shownPath,
} from '../../../../src-renderer/lib/data/export-format.js';

const FORMATS: ExportFormatInfo[] = [
  { format: 'onnx', description: '', target: { kind: 'file', extension: '.onnx' } },
  { format: 'tflite', description: '', target: { kind: 'file', extension: '.tflite' } },
  { format: 'tfjs', description: '', target: { kind: 'folder' } },
  { format: 'params', description: '', target: { kind: 'file', extension: '.json' } },
];
const info = (f: string) => FORMATS.find((x) => x.format === f)!;

test('one base gives each format its own destination; a typed extension is not doubled', () => {
  assert.equal(exportTarget('model', info('onnx'), FORMATS), 'model.onnx');
  assert.equal(exportTarget('/out/model.onnx', info('onnx'), FORMATS), '/out/model.onnx');
  assert.equal(exportTarget('/out/model.onnx', info('tflite'), FORMATS), '/out/model.tflite');
  assert.equal(exportTarget('model', info('tfjs'), FORMATS), 'model_tfjs');
  assert.equal(exportTarget('model.json', info('params'), FORMATS), 'model.json');
  assert.equal(defaultExportName({ id: 7, name: 'fashion cnn/8w8a' }), 'run7_fashion_cnn_8w8a');
  assert.equal(defaultExportName({ id: 3, name: '***' }), 'run3');
});

test('destination checks: a name inside the folder on the web host, an absolute path elsewhere', () => {
  assert.equal(destinationProblem('model', true), null);
  assert.match(destinationProblem('../model', true)!, /cannot leave the export folder/);
  assert.match(destinationProblem('sub/../../m', true)!, /cannot leave/);
  assert.match(destinationProblem('  ', true)!, /Type a file name/);
  assert.match(destinationProblem('model', false)!, /absolute path/);
  assert.equal(destinationProblem('/tmp/model', false), null);
  assert.equal(destinationProblem('C:\\out\\model', false), null);
  assert.equal(shownPath('/data/exports', 'm.onnx'), '/data/exports/m.onnx');
  assert.equal(shownPath('/data/exports/', '/abs/m.onnx'), '/abs/m.onnx');
  assert.equal(shownPath(null, 'm.onnx'), 'm.onnx');
});

test('overall progress: steps in order, verification passes share its span', () => {
  assert.equal(exportFraction(null), 0);
  assert.equal(exportFraction({ phase: 'queued', done: 0, total: 1 }), 0);
  const audit = exportFraction({ phase: 'audit', done: 0, total: 1 });
  const firstPassHalf = exportFraction({ phase: 'verify', done: 50, total: 100, message: 'studio simulation' }, ['studio simulation']);
  const secondPassStart = exportFraction({ phase: 'verify', done: 0, total: 100, message: 'onnxruntime' }, ['studio simulation', 'onnxruntime']);
  const secondPassEnd = exportFraction({ phase: 'verify', done: 100, total: 100, message: 'onnxruntime' }, ['studio simulation', 'onnxruntime']);
  // verify spans 0.12..0.98: half of the first of two passes is a quarter of it.
  assert.ok(Math.abs(firstPassHalf - (0.12 + 0.86 * 0.25)) < 1e-12);
  assert.ok(Math.abs(secondPassStart - (0.12 + 0.86 * 0.5)) < 1e-12);
  assert.ok(Math.abs(secondPassEnd - 0.98) < 1e-12);
  assert.ok(audit < firstPassHalf && firstPassHalf < secondPassStart && secondPassEnd < exportFraction({ phase: 'store', done: 1, total: 1 }) + 1e-12);
});

test('sizes: bytes in binary units, the float model at 4 bytes a parameter', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KB');
  assert.equal(formatBytes(421 * 1024), '421 KB');
  assert.equal(formatBytes(2.5 * 1024 * 1024), '2.5 MB');
  assert.equal(floatModelBytes(1000), 4000);
  assert.equal(floatModelBytes(0), null);
});

test('reading a stored export: verification figures, integer reference, audit checks and problems', () => {
  const v = readVerification({
    verification: { runtime: 'onnxruntime-node 1.20', count: 500, runtimeAccuracy: 0.882, simulationAccuracy: 0.882, agreement: 1, maxAbsDiff: 0.0039, passed: true, integer: { agreement: 0.998, note: 'int8', nested: { x: 1 } } },
  })!;
  assert.equal(v.agreement, 1);
  assert.equal(v.count, 500);
  assert.deepEqual(v.integer, [
    ['agreement', 0.998],
    ['note', 'int8'],
  ]);
  assert.equal(readVerification({ verification: { extraPaths: [] } }), null);

  const onnx = readAudit({ audit: { ok: true, checked: [{ tensor: 'conv/kernel', kind: 'weight', channels: 8, axis: 0, dtype: 'int8', range: [-127, 127] }], problems: [] } });
  assert.equal(onnx.ok, true);
  assert.equal(onnx.checks[0]!.tensor, 'conv/kernel');
  assert.match(onnx.checks[0]!.detail, /kind weight · channels 8 · axis 0 · dtype int8 · range \[-127, 127\]/);
  const bad = readAudit({ audit: { ok: false, problems: ['dense/kernel: stayed float32'] } });
  assert.equal(bad.ok, false);
  assert.deepEqual(bad.problems, ['dense/kernel: stayed float32']);
  assert.equal(readAudit({ audit: { ok: true, tensors: 12, roundTrip: 'JSON and CSV read back' } }).summary, 'JSON and CSV read back');
});

test('the simulation compared against: its record (description, runtime, why not onnxruntime) or the text of an older export', () => {
  const base = { runtime: 'onnxruntime-node 1.20', count: 10, runtimeAccuracy: 0.9, simulationAccuracy: 0.9, agreement: 1, maxAbsDiff: 0, passed: true };
  const native = readVerification({ verification: { ...base, simulation: { runtime: 'onnxruntime', description: 'studio fake-quant, rounding half-even', batchSize: 100, seconds: 0.2 } } })!;
  assert.equal(native.simulation, 'studio fake-quant, rounding half-even, simulated on onnxruntime');
  const fallback = readVerification({ verification: { ...base, simulation: { runtime: 'tfjs', description: 'weight-only', reason: 'the simulation has no ONNX form: layer deconv', batchSize: 100, seconds: 1 } } })!;
  assert.equal(fallback.simulation, 'weight-only, simulated on tfjs (the simulation has no ONNX form: layer deconv)');
  assert.equal(readVerification({ verification: { ...base, simulation: 'studio fake-quant, rounding half-even' } })!.simulation, 'studio fake-quant, rounding half-even');
  assert.equal(readVerification({ verification: { ...base, simulation: { runtime: 'onnxruntime' } } })!.simulation, null);
});

const A8 = { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-tensor' } as const;
const A16 = { bits: 16, symmetric: true, narrowRange: false, granularity: 'per-tensor' } as const;
const ioConfigs: [string, RunConfigInput, boolean][] = [
  ['8-bit activations', { modelId: 1, datasetId: 1, activations: A8 }, true],
  ['8-bit activations, one layer kept float', { modelId: 1, datasetId: 1, activations: A8, overrides: [{ layer: 'dense', float: true }] }, true],
  ['8-bit activations, 4-bit weights on a layer', { modelId: 1, datasetId: 1, activations: A8, overrides: [{ layer: 'dense', weightBits: 4 }] }, true],
  ['16-bit activations (16x8)', { modelId: 1, datasetId: 1, activations: A16 }, false],
  ['8-bit activations but one layer at 16', { modelId: 1, datasetId: 1, activations: A8, overrides: [{ layer: 'conv2d_1', activationBits: 16 }] }, false],
];

test('TFLite int8 input/output: offered for 8-bit activations, not for a run or a layer at 16 bits, with the reason', () => {
  for (const [name, input, offered] of ioConfigs) assert.equal(integerIoProblem(RunConfig.parse(input)) === null, offered, name);
  assert.match(integerIoProblem(RunConfig.parse(ioConfigs[3]![1]))!, /^The run's activations are 16-bit: its TFLite file is 16x8, written with float input and output only/);
  assert.match(integerIoProblem(RunConfig.parse(ioConfigs[4]![1]))!, /^Layer conv2d_1 has 16-bit activations/);
});

const SAMPLE_MODEL = path.join(ROOT, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json');

test('TFLite int8 input/output is offered exactly where the writer makes an int8 file (export/tflite/int16.ts on the sample CNN’s prepared plan)', { skip: !existsSync(SAMPLE_MODEL) && 'the sample model is not in this build' }, async () => {
  const graph = await readTfjsLayersModel(SAMPLE_MODEL);
  for (const [name, input, offered] of ioConfigs) {
    const config = RunConfig.parse(input);
    let type: string;
    try {
      type = activationTypeOf(prepare(graph, config).plan);
    } catch (e) {
      type = `refused: ${(e as Error).message}`; // a mix of 8- and 16-bit activations: no TFLite file at all
    }
    assert.equal(type === 'int8', offered, `${name}: the writer gives ${type}`);
    assert.equal(integerIoProblem(config) === null, offered, name);
  }
});
