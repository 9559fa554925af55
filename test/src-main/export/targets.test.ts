/**
 * A run with a target reports the accuracy of the file its target's export
 * writes: the run's evaluation simulates the target's arithmetic (engine/
 * targets/simulation.ts), and the export's verification runs the file in its
 * runtime (the TFLite interpreter, onnxruntime) on the same eval split. Each
 * case asserts the file's accuracy equals the run's within 0.05 pt (and the
 * file agrees with the run's simulation on top-1 nearly everywhere); a run
 * breaking its target's rules is refused before anything is written.
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import type { RunConfigInput } from '../../../src-main/api/run-config.js';
import { initBackend } from '../../../src-main/engine/backend.js';
import { samplesFromPart } from '../../../src-main/engine/eval-samples.js';
import { graphFromLayersModel } from '../../../src-main/engine/graph/from-layers.js';
import { serializeGraph } from '../../../src-main/engine/graph/serialize.js';
import { preparePtq, runPtq } from '../../../src-main/engine/ptq/run.js';
import { TargetRuleError } from '../../../src-main/engine/targets/rules.js';
import { ExportError } from '../../../src-main/export/errors.js';
import { exportOnnx } from '../../../src-main/export/onnx/index.js';
import { qparamsFromRecords } from '../../../src-main/export/qparams-from-record.js';
import { exportTflite } from '../../../src-main/export/tflite/index.js';
import type { ExportInput, ExportResult } from '../../../src-main/export/types.js';
import { readModelFile } from '../../../src-main/io/models/registry.js';
import type { RunResults } from '../../../src-main/store/tensors.js';
import { tempDir } from '../../helpers/temp.js';
import { conv, seedMobile } from '../engine/graph/mobile-fixtures.js';
import { config, context, ROOT, SAMPLE_DATA } from '../engine/ptq/ptq-fixtures.js';
import { npyDataset, PER_CHANNEL } from './tflite-mobile-fixtures.js';

before(async () => {
  await initBackend('wasm');
});

interface Dataset {
  path: string;
  format: string;
  preprocessing: Record<string, unknown>;
}

/** A PTQ run (as a stored run is made) and the export input rebuilt from its records. */
async function targetRun(modelName: string, model: Uint8Array, dataset: Dataset, extra: Partial<RunConfigInput>): Promise<{ results: RunResults; input: ExportInput }> {
  const cfg = config({ weights: PER_CHANNEL, ...extra });
  const payload = { config: cfg, modelName, model, dataset };
  const results = await runPtq(payload, context());
  const prep = preparePtq(payload);
  const samples = samplesFromPart(prep.data.parts.test, prep.evalIdx, prep.graph.nodes[0]!.outputShape);
  return { results, input: { modelName, config: cfg, graph: prep.graph, plan: prep.plan, qparams: qparamsFromRecords(prep.plan, results.tensors), records: results.tensors, samples } };
}

interface Figures {
  runtimeAccuracy: number;
  simulationAccuracy: number;
  agreement: number;
  count: number;
}

function assertFileScoresRun(results: RunResults, exported: ExportResult, what: string): Figures {
  const v = exported.verification as unknown as Figures;
  assert.ok(v, `${what}: verified`);
  const gap = Math.abs(v.runtimeAccuracy - results.quantAccuracy!) * 100;
  assert.ok(gap <= 0.05, `${what}: file ${(v.runtimeAccuracy * 100).toFixed(2)}% against the run's ${(results.quantAccuracy! * 100).toFixed(2)}% (${gap.toFixed(2)} pt)`);
  // The run's simulation is the export's own: the same accuracy on the same split.
  assert.equal(v.simulationAccuracy, results.quantAccuracy, `${what}: the run simulates what the export verifies against`);
  assert.ok(v.agreement >= 0.99, `${what}: top-1 agreement ${v.agreement}`);
  return v;
}

async function bundledCnn(): Promise<Uint8Array> {
  const read = await readModelFile(path.join(ROOT, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json'));
  return serializeGraph(read.graph);
}

type T = tf.SymbolicTensor;
const apply = (layer: tf.layers.Layer, x: T | T[]) => layer.apply(x) as T;

/** Two branches (conv → max-pool, strided conv) concatenated, a conv, global average pool, Dense with softmax. */
function concatSoftmaxModel(): Uint8Array {
  const input = tf.input({ shape: [8, 8, 3], name: 'input' });
  const a = apply(tf.layers.maxPooling2d({ name: 'pool', poolSize: 2 }), apply(conv('conv_a', 6, 3, { padding: 'same', activation: 'relu' }), input));
  const b = apply(conv('conv_b', 4, 3, { strides: 2, padding: 'same', activation: 'relu' }), input);
  let x = apply(tf.layers.concatenate({ name: 'cat' }), [a, b]);
  x = apply(conv('conv_c', 8, 3, { padding: 'same', activation: 'relu6' }), x);
  x = apply(tf.layers.globalAveragePooling2d({ name: 'gap' }), x);
  const out = apply(tf.layers.dense({ name: 'head', units: 10, activation: 'softmax' }), x);
  const model = seedMobile(tf.model({ inputs: input, outputs: out, name: 'concat_softmax' }), 23);
  const bytes = serializeGraph(graphFromLayersModel(model));
  model.dispose();
  return bytes;
}

describe('the bundled CNN (assets/sample)', () => {
  test('target tflite-int8: the TFLite file scores what the run reports', async () => {
    const { results, input } = await targetRun('fashion_cnn', await bundledCnn(), SAMPLE_DATA, { target: 'tflite-int8', eval: { count: 1000, seed: 1 } });
    assert.match(String((results.summary as { evaluation: { simulation?: string } }).evaluation.simulation), /^tflite-int8: /);
    const out = await exportTflite(input, path.join(tempDir(), 'cnn.tflite'));
    assertFileScoresRun(results, out, 'CNN, tflite-int8');
  });

  test('target onnx-ort-cpu: the ONNX file scores what the run reports', async () => {
    const { results, input } = await targetRun('fashion_cnn', await bundledCnn(), SAMPLE_DATA, { target: 'onnx-ort-cpu', eval: { count: 1000, seed: 1 } });
    const out = await exportOnnx(input, path.join(tempDir(), 'cnn.onnx'));
    assertFileScoresRun(results, out, 'CNN, onnx-ort-cpu');
  });
});

describe('softmax, concatenation and max-pool (seeded, random data)', () => {
  let data: Dataset;
  before(() => {
    data = npyDataset(path.join(tempDir(), 'data'), [8, 8, 3], 800, -1, 1, 7);
  });

  test('target tflite-int8: logits quantized before the softmax, SOFTMAX on 1/256, concatenation on one grid, as the file', async () => {
    const { results, input } = await targetRun('concat_softmax', concatSoftmaxModel(), data, { target: 'tflite-int8', calibration: { count: 200, seed: 0 }, eval: { count: 400, seed: 1 } });
    assert.ok(input.plan.activations.some((a) => a.name === 'head/output' && a.at === 'head'), 'the logits have their own quantizer');
    const out = await exportTflite(input, path.join(tempDir(), 'cat.tflite'));
    assertFileScoresRun(results, out, 'concat_softmax, tflite-int8');
    // The file's logits range is the run's (nothing observed at export time).
    assert.equal((out.verification as { logits?: unknown }).logits, undefined);
  });

  test('target onnx-ort-cpu and onnx-tensorrt: the ONNX file scores what the run reports', async () => {
    for (const [target, activations] of [
      ['onnx-ort-cpu', undefined],
      ['onnx-tensorrt', { bits: 8, symmetric: true, narrowRange: false, granularity: 'per-tensor' as const }],
    ] as const) {
      const { results, input } = await targetRun('concat_softmax', concatSoftmaxModel(), data, { target, calibration: { count: 200, seed: 0 }, eval: { count: 400, seed: 1 }, ...(activations ? { activations } : {}) });
      const out = await exportOnnx(input, path.join(tempDir(), `cat-${target}.onnx`));
      assertFileScoresRun(results, out, `concat_softmax, ${target}`);
    }
  });
});

describe('bad input', () => {
  test('4-bit weights with target tflite-int8: the run is refused before it starts, naming the layer and the limit', async () => {
    const W4 = { bits: 4, symmetric: true, narrowRange: true, granularity: 'per-channel' as const };
    await assert.rejects(
      () => runPtq({ config: config({ weights: W4, target: 'tflite-int8' }), modelName: 'fashion_cnn', model: concatSoftmaxModel(), dataset: SAMPLE_DATA }, context()),
      (e: unknown) => e instanceof TargetRuleError && /layer conv_a .*4 bits; tflite-int8 stores 8-bit weights/.test(e.message),
    );
  });

  test('an export input breaking its target (4-bit weights, tflite-int8) is refused before anything is written', async () => {
    const data = npyDataset(path.join(tempDir(), 'data'), [8, 8, 3], 200, -1, 1, 9);
    // A 4-bit run made without a target (the TFLite writer takes 4-bit kernels as int8 values), then labelled tflite-int8.
    const { input } = await targetRun('concat_softmax', concatSoftmaxModel(), data, { weights: { ...PER_CHANNEL, bits: 4 }, calibration: { count: 100, seed: 0 }, eval: { count: 50, seed: 1 } });
    const dest = path.join(tempDir(), 'w4.tflite');
    await assert.rejects(
      () => exportTflite({ ...input, config: { ...input.config, target: 'tflite-int8' } }, dest),
      (e: unknown) => e instanceof ExportError && e.code === 'unsupported' && e.details.tensor === 'conv_a' && /target tflite-int8 .*layer conv_a .*4 bits; tflite-int8 stores 8-bit weights/.test(e.message),
    );
    assert.equal(existsSync(dest), false, 'nothing written');
    // The same input without the target is written as before.
    const plain = await exportTflite(input, dest, { verify: false });
    assert.equal(plain.path, dest);
  });
});
