/**
 * A QAT run with a target (config.target) gives the PTQ run's guarantee: its
 * reported accuracy is the accuracy of the file its target's export writes.
 * A short QAT run (a fraction of an epoch) of the bundled CNN is exported the
 * way a stored run is (export/index.ts: the trained model and the run's
 * records, rebuilt through prepare), the file is run in its runtime on the
 * run's eval split, and its accuracy must equal the run's quantAccuracy
 * within one sample. A config the target cannot hold is refused before
 * training, naming the layer.
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import type { RunConfigInput } from '../../../../src-main/api/run-config.js';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { graphFromLayersModel } from '../../../../src-main/engine/graph/from-layers.js';
import { deserializeGraph, serializeGraph } from '../../../../src-main/engine/graph/serialize.js';
import { lintModel } from '../../../../src-main/engine/lint.js';
import { runQat } from '../../../../src-main/engine/qat/run.js';
import { TargetRuleError } from '../../../../src-main/engine/targets/rules.js';
import { runExport } from '../../../../src-main/export/index.js';
import type { ExportFormat } from '../../../../src-main/export/types.js';
import { readModelFile } from '../../../../src-main/io/models/registry.js';
import type { CurvePoint } from '../../../../src-main/store/curves.js';
import { tempDir } from '../../../helpers/temp.js';
import { npyDataset } from '../../export/tflite-mobile-fixtures.js';
import { conv, seedMobile } from '../graph/mobile-fixtures.js';
import { config, context, ROOT, SAMPLE_DATA } from '../ptq/ptq-fixtures.js';

before(async () => {
  await initBackend('wasm');
});

const PER_CHANNEL = { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' } as const;
/** About 270 training samples (0.15 of the 1,800 left after the validation hold-out): a few steps. */
const SHORT: RunConfigInput['training'] = { epochs: 0.15, batchSize: 32, validationSplit: 0.1, bnFreezeStep: 4, seed: 3 };
const EVAL = { count: 1000, seed: 1 };

async function bundledCnn(): Promise<Uint8Array> {
  const read = await readModelFile(path.join(ROOT, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json'));
  return serializeGraph(read.graph);
}

/** A QAT run of the bundled CNN for `target`, exported to `format` as a stored run is; returns the run's and the file's figures. */
async function qatThenExport(target: 'tflite-int8' | 'onnx-ort-cpu', format: ExportFormat, model?: Uint8Array, dataset: typeof SAMPLE_DATA = SAMPLE_DATA, extra: Partial<RunConfigInput> = {}) {
  const cfg = config({ weights: PER_CHANNEL, target, training: SHORT, eval: EVAL, ...extra });
  const points: CurvePoint[] = [];
  const ctx = { ...context(), emit: (name: string, data: unknown) => (name === 'curves' ? points.push(...(data as CurvePoint[])) : undefined) };
  const run = await runQat({ config: cfg, modelName: 'fashion_cnn', model: model ?? (await bundledCnn()), dataset, seed: 3 }, ctx);
  const records = run.tensors.map((t) => ({ ...t, perChannel: t.perChannel ?? null }));
  const out = await runExport({
    runId: 1,
    modelName: 'fashion_cnn',
    model: run.trainedModel,
    config: cfg,
    dataset,
    records,
    format,
    path: path.join(tempDir(), `qat-${target}.${format}`),
    options: {},
  });
  const v = out.verification as unknown as { runtimeAccuracy: number; simulationAccuracy: number; count: number; agreement: number };
  return { run, v, points };
}

type T = tf.SymbolicTensor;
const apply = (layer: tf.layers.Layer, x: T) => layer.apply(x) as T;

/** conv → sigmoid → conv → tanh → Dense with softmax: two outputs inside the model that tflite-int8 puts on fixed grids. */
function sigmoidTanhModel(): Uint8Array {
  const input = tf.input({ shape: [6, 6, 2], name: 'input' });
  let x = apply(tf.layers.activation({ name: 'sig', activation: 'sigmoid' }), apply(conv('conv_a', 4, 3, { padding: 'same' }), input));
  x = apply(tf.layers.activation({ name: 'th', activation: 'tanh' }), apply(conv('conv_b', 4, 3, { strides: 2, padding: 'same' }), x));
  const out = apply(tf.layers.dense({ name: 'head', units: 5, activation: 'softmax' }), apply(tf.layers.flatten({ name: 'flat' }), x));
  const model = seedMobile(tf.model({ inputs: input, outputs: out, name: 'sig_tanh' }), 11);
  const bytes = serializeGraph(graphFromLayersModel(model));
  model.dispose();
  return bytes;
}

describe('a QAT run with a target', () => {
  test('tflite-int8: the TFLite file scores the run’s quantAccuracy (within one sample of the eval split)', async () => {
    const { run, v } = await qatThenExport('tflite-int8', 'tflite');
    const summary = run.summary as { evaluation: { simulation?: string }; train: { steps: number } };
    assert.match(String(summary.evaluation.simulation), /^tflite-int8: /, 'the final evaluation simulates the target');
    assert.ok(summary.train.steps >= 5 && summary.train.steps <= 12, `a short training: ${summary.train.steps} steps`);
    // The logits of the fused softmax have a range of their own (trained), the softmax output the 1/256 grid.
    const logits = run.tensors.find((t) => t.layer === 'dense_1' && t.role === 'activation');
    const softmax = run.tensors.find((t) => t.layer === 'dense_1/softmax' && t.role === 'activation');
    assert.ok(logits && logits.max! > 1, `logits range ${JSON.stringify(logits && [logits.min, logits.max])}`);
    assert.ok(softmax, 'the softmax output has its record');
    assert.deepEqual([softmax.scale, softmax.min], [1 / 256, 0], 'TFLite’s SOFTMAX grid: 1/256 from 0');
    // The stored trained model is the user's layers: the softmax back in dense_1.
    const trained = deserializeGraph(run.trainedModel);
    assert.equal(trained.output, 'dense_1');
    assert.equal(trained.nodes.find((n) => n.name === 'dense_1' && 'activation' in n && n.activation === 'softmax')?.name, 'dense_1');
    console.log(`QAT tflite-int8: run ${(run.quantAccuracy! * 100).toFixed(2)}%, TFLite file ${(v.runtimeAccuracy * 100).toFixed(2)}% on ${v.count} images (agreement ${v.agreement})`);
    assert.equal(v.count, EVAL.count);
    assert.ok(Math.abs(v.runtimeAccuracy - run.quantAccuracy!) * v.count <= 1 + 1e-9, `file ${v.runtimeAccuracy} vs run ${run.quantAccuracy}`);
    assert.equal(v.simulationAccuracy, run.quantAccuracy, 'the run simulates what the export verifies against');
  });

  test('onnx-ort-cpu: the ONNX file scores the run’s quantAccuracy (within one sample of the eval split)', async () => {
    const { run, v } = await qatThenExport('onnx-ort-cpu', 'onnx');
    assert.match(String((run.summary as { evaluation: { simulation?: string } }).evaluation.simulation), /^onnx-ort-cpu: /);
    console.log(`QAT onnx-ort-cpu: run ${(run.quantAccuracy! * 100).toFixed(2)}%, ONNX file ${(v.runtimeAccuracy * 100).toFixed(2)}% on ${v.count} images (agreement ${v.agreement})`);
    assert.equal(v.count, EVAL.count);
    assert.ok(Math.abs(v.runtimeAccuracy - run.quantAccuracy!) * v.count <= 1 + 1e-9, `file ${v.runtimeAccuracy} vs run ${run.quantAccuracy}`);
    assert.equal(v.simulationAccuracy, run.quantAccuracy, 'the run simulates what the export verifies against');
  });

  test('tflite-int8, sigmoid and tanh inside the model: they train on their fixed grids (1/256, 1/128), and the file scores the run', async () => {
    const data = npyDataset(path.join(tempDir(), 'data'), [6, 6, 2], 900, -1, 1, 5, 5);
    const { run, v, points } = await qatThenExport('tflite-int8', 'tflite', sigmoidTanhModel(), data, {
      calibration: { count: 200, seed: 0 },
      eval: { count: 400, seed: 1 },
      training: { ...SHORT, epochs: 1 },
      // LastValue: every step would move a range that training updates.
      estimator: { kind: 'lastvalue' },
    });
    assert.equal((run.summary as { train: { runtime: string } }).train.runtime, 'onnxruntime', 'trained in the native step graph');
    const sig = run.tensors.find((t) => t.layer === 'sig' && t.role === 'activation')!;
    const th = run.tensors.find((t) => t.layer === 'th' && t.role === 'activation')!;
    assert.deepEqual([sig.scale, sig.min], [1 / 256, 0]);
    assert.deepEqual([th.scale, th.min], [1 / 128, -1]);
    // Every training step left them on their grids (the curves log the quantizers' ranges).
    const train = points.filter((p) => p.split === 'train' && p.ranges);
    assert.ok(train.length > 3, 'curve points with ranges');
    for (const p of train) {
      assert.deepEqual(p.ranges!['sig/output'], { min: 0, max: 255 / 256 }, `step ${p.step}: sigmoid range`);
      assert.deepEqual(p.ranges!['th/output'], { min: -1, max: 127 / 128 }, `step ${p.step}: tanh range`);
    }
    console.log(`QAT tflite-int8 (sigmoid, tanh): run ${(run.quantAccuracy! * 100).toFixed(2)}%, TFLite file ${(v.runtimeAccuracy * 100).toFixed(2)}% on ${v.count} samples`);
    assert.ok(Math.abs(v.runtimeAccuracy - run.quantAccuracy!) * v.count <= 1 + 1e-9, `file ${v.runtimeAccuracy} vs run ${run.quantAccuracy}`);
  });

  test('4-bit weights with tflite-int8: lint names the layer for a QAT config, and the run is refused before training', async () => {
    const W4 = { bits: 4, symmetric: true, narrowRange: true, granularity: 'per-channel' as const };
    const cfg = config({ weights: W4, target: 'tflite-int8', training: SHORT });
    const model = await bundledCnn();
    const bits = lintModel(deserializeGraph(model), cfg, { kind: 'qat' }).find((f) => f.code === 'target-weight-bits');
    assert.equal(bits?.severity, 'error');
    assert.equal(bits?.layer, 'conv2d');
    assert.match(bits!.message, /4 bits; tflite-int8 stores 8-bit weights/);
    const ctx = context();
    await assert.rejects(
      () => runQat({ config: cfg, modelName: 'fashion_cnn', model, dataset: SAMPLE_DATA }, ctx),
      (e: unknown) => e instanceof TargetRuleError && /layer conv2d .*4 bits; tflite-int8 stores 8-bit weights/.test(e.message),
    );
    assert.deepEqual(ctx.phases, [], 'refused before any batch');
  });
});
