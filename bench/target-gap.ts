/**
 * `node dist/bench/target-gap.js [ARCH|FILE] [SIZE] [EVAL] [FORMATS]`: how far an
 * exported file's accuracy lands from the accuracy its run reports, with and
 * without the run's target (issue 16: a run with a target simulates the
 * target's arithmetic, so the gap should be 0 within 0.05 pt). A seeded
 * keras.applications model (default MobileNetV2 at SIZE×SIZE, default 96; 10
 * classes, softmax), or a Keras file the studio reads (its own input shape and
 * classes), on a seeded random dataset labelled with the float
 * model's own top-1 (so accuracy means agreement with the float model); per
 * format (default tflite,onnx) one PTQ run without a target and one with
 * (tflite-int8 / onnx-ort-cpu), each exported and verified on EVAL images
 * (default 1000). Prints run accuracy, file accuracy, their gap and the
 * file's top-1 agreement with the run's simulation.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { RunConfigInput, TargetName } from '../src-main/api/run-config.js';
import { initBackend } from '../src-main/engine/backend.js';
import '../src-main/engine/graph/tfjs-compat/index.js';
import { samplesFromPart } from '../src-main/engine/eval-samples.js';
import { graphFromLayersModel } from '../src-main/engine/graph/from-layers.js';
import { serializeGraph } from '../src-main/engine/graph/serialize.js';
import { layersModelFromGraph } from '../src-main/engine/graph/to-layers.js';
import { readKerasModel } from '../src-main/io/models/keras/read.js';
import { preparePtq, runPtq } from '../src-main/engine/ptq/run.js';
import type { LayerDiffReport } from '../src-main/export/diff/layer-diff.js';
import { exportOnnx } from '../src-main/export/onnx/index.js';
import { qparamsFromRecords } from '../src-main/export/qparams-from-record.js';
import { exportTflite } from '../src-main/export/tflite/index.js';
import { applications } from '../test/helpers/applications/index.js';
import { npyFile } from '../test/helpers/npy.js';
import { tempDir } from '../test/helpers/temp.js';
import { config, context } from '../test/src-main/engine/ptq/ptq-fixtures.js';
import { npyDataset } from '../test/src-main/export/tflite-mobile-fixtures.js';

/** `BENCH_LAYER_DIFF=1`: each file tensor against the simulation (where they part, if they do). */
function printLayerDiff(diff: LayerDiffReport): void {
  if (diff.unavailable) return void console.log(`  layer diff unavailable: ${diff.unavailable}`);
  console.log(`  layer diff on ${diff.samples} samples, first divergence: ${diff.firstDivergence ?? 'none'}`);
  for (const l of diff.layers) {
    if (l.maxSteps === 0) continue;
    console.log(`    ${l.tensor.padEnd(40)} max ${l.maxSteps} steps, off by one ${(l.offByOne * 100).toFixed(3)} %, beyond ${(l.beyondOne * 100).toFixed(3)} %`);
  }
}

const TARGET_OF: Record<string, TargetName> = { tflite: 'tflite-int8', onnx: 'onnx-ort-cpu' };

/** A keras.applications architecture (seeded, SIZE×SIZE, 10 classes) or a model file the studio reads (e.g. test/fixtures/keras/mlcommons_tiny_resnet8.h5). */
async function modelOf(arch: string, size: number): Promise<tf.LayersModel> {
  if (/\.(h5|hdf5|keras)$/.test(arch)) return layersModelFromGraph(await readKerasModel(arch));
  const app = applications.find((a) => a.name === arch);
  if (!app) throw new Error(`no architecture ${arch}`);
  return app.build({ inputSize: size, classes: 10, seed: 0 });
}

async function main(): Promise<void> {
  const [arch = 'MobileNetV2', size = '96', evalCount = '1000', formats = 'tflite,onnx'] = process.argv.slice(2);
  await initBackend('wasm');
  const s = Number(size);
  const n = Number(evalCount);
  const dir = tempDir('studio-bench-target-gap-');
  const model = await modelOf(arch, s);
  const shape = model.inputs[0]!.shape.slice(1) as number[];
  const classes = (model.outputs[0]!.shape as number[]).at(-1)!;
  const count = 2 * Math.max(n, 200);
  const data = npyDataset(path.join(dir, 'data'), shape, count, -1, 1, 1, classes);
  // Labels: the float model's own top-1 (the npy split puts every sample in both parts' index space).
  const file = readFileSync(path.join(data.path, 'x.npy'));
  const size1 = shape.reduce((a, b) => a * b, 1);
  const x = tf.tensor(new Float32Array(new Uint8Array(file.subarray(file.length - count * size1 * 4)).buffer), [count, ...shape]);
  const labels = Uint8Array.from((model.predict(x, { batchSize: 32 }) as tf.Tensor).argMax(-1).dataSync());
  x.dispose();
  writeFileSync(path.join(data.path, 'y.npy'), npyFile('|u1', [count], labels));
  const bytes = serializeGraph(graphFromLayersModel(model));
  model.dispose();
  for (const format of formats.split(',')) {
    for (const target of [undefined, TARGET_OF[format]]) {
      const extra: Partial<RunConfigInput> = { weights: { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' }, calibration: { count: 200, seed: 0 }, eval: { count: n, seed: 1 }, ...(target ? { target } : {}) };
      const payload = { config: config(extra), modelName: arch, model: bytes, dataset: data };
      const started = performance.now();
      const results = await runPtq(payload, context());
      const prep = preparePtq(payload);
      const samples = samplesFromPart(prep.data.parts.test, prep.evalIdx, prep.graph.nodes[0]!.outputShape);
      const input = { modelName: arch, config: payload.config, graph: prep.graph, plan: prep.plan, qparams: qparamsFromRecords(prep.plan, results.tensors), records: results.tensors, samples };
      const write = format === 'tflite' ? exportTflite : exportOnnx;
      const layerDiff = process.env.BENCH_LAYER_DIFF === '1';
      const out = await write(input, path.join(dir, `${path.basename(arch)}-${target ?? 'none'}.${format}`), { layerDiff });
      const v = out.verification as { runtimeAccuracy: number; simulationAccuracy: number; agreement: number; count: number };
      const run = results.quantAccuracy!;
      console.log(
        `${path.basename(arch)}${arch.includes('.') ? '' : ` ${s}x${s}`} ${format} target=${target ?? 'none'}: float ${(results.floatAccuracy! * 100).toFixed(2)}%, run ${(run * 100).toFixed(2)}%, file ${(v.runtimeAccuracy * 100).toFixed(2)}% ` +
          `(gap ${((v.runtimeAccuracy - run) * 100).toFixed(2)} pt), file vs simulation agreement ${v.agreement}, n=${v.count}, ${((performance.now() - started) / 1000).toFixed(0)} s`,
      );
      const integer = (out.verification as { integer?: { agreementWithRuntime?: number; accuracy?: number; unavailable?: string } }).integer;
      if (integer) console.log(`  integer reference: ${integer.unavailable ?? `accuracy ${((integer.accuracy ?? 0) * 100).toFixed(2)}%, top-1 agreement with the file ${integer.agreementWithRuntime}`}`);
      const diff = (out.verification as { layerDiff?: LayerDiffReport }).layerDiff;
      if (layerDiff && diff) printLayerDiff(diff);
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
