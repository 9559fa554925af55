/**
 * Stable layer mapping on a nested keras.applications model: MobileNetV2
 * (alpha 0.35, 32x32) as Keras transfer learning nests it (a Sequential of
 * the functional base, global average pooling and a softmax Dense; built by
 * test/helpers/applications, conditioned as the end-to-end tests do),
 * calibrated on its images, then written as ONNX and TFLite. Every ONNX node
 * and initializer, and every TFLite tensor (ZeroPadding, depthwise, residual
 * Add, ReLU6, pooling, the fused softmax's logits included), maps to a layer
 * path of the nested model; the paths of the base's layers keep the base's
 * name; the params sidecar lists exactly what the files hold.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../src-main/engine/backend.js';
import { graphFromLayersModel } from '../../../src-main/engine/graph/from-layers.js';
import { serializeGraph } from '../../../src-main/engine/graph/serialize.js';
import { decodeOnnx, LAYER_KEY } from '../../../src-main/engine/onnx/build.js';
import { preparePtq, runPtq } from '../../../src-main/engine/ptq/run.js';
import { samplesFromPart } from '../../../src-main/engine/eval-samples.js';
import { onnxLayerMap } from '../../../src-main/export/onnx/layer-map.js';
import { exportOnnx } from '../../../src-main/export/onnx/index.js';
import { exportParams, type ParamsFile } from '../../../src-main/export/params.js';
import { qparamsFromRecords } from '../../../src-main/export/qparams-from-record.js';
import { decodeTflite, tfliteLayerMap } from '../../../src-main/export/tflite/build.js';
import { exportTflite } from '../../../src-main/export/tflite/index.js';
import type { ExportInput } from '../../../src-main/export/types.js';
import { config, context } from '../engine/ptq/ptq-fixtures.js';
import { ARCHITECTURES, buildModel, modelInput, preprocessingOf, prototypeImages, writeNpyDataset } from '../e2e-models/applications-fixtures.js';
import { tempDir } from '../../helpers/temp.js';

const COUNT = 40;
let dir: string;
let input: ExportInput;

before(async () => {
  await initBackend('wasm');
  dir = tempDir('studio-layer-map-');
  const arch = ARCHITECTURES.find((a) => a.name === 'MobileNetV2')!;
  const shape = [COUNT, arch.size, arch.size, 3];
  const images = prototypeImages(COUNT, arch.size, 7);
  const x = modelInput(images.pixels, shape, arch.input);
  const model = buildModel(arch, 'transfer', x, images.prototype);
  const graph = graphFromLayersModel(model);
  tf.dispose([x]);
  model.dispose();
  const dataset = { path: writeNpyDataset(path.join(dir, 'data'), images.pixels, shape, images.prototype), format: 'npy', preprocessing: preprocessingOf(arch.input) };
  const cfg = config({ calibration: { count: COUNT, seed: 0 }, eval: { count: COUNT, seed: 1 } });
  const payload = { config: cfg, modelName: 'mobilenetv2-transfer', model: serializeGraph(graph), dataset };
  const results = await runPtq(payload, context());
  const prep = preparePtq(payload);
  const samples = samplesFromPart(prep.data.parts.test, prep.evalIdx, prep.graph.nodes[0]!.outputShape);
  input = { modelName: payload.modelName, config: cfg, graph: prep.graph, plan: prep.plan, qparams: qparamsFromRecords(prep.plan, results.tensors), records: results.tensors, samples };
});

test('MobileNetV2 as transfer learning nests it: every ONNX node and TFLite tensor maps to its layer path, and the sidecar lists the same', async () => {
  const layers = new Set(input.graph.nodes.map((n) => n.name));
  const base = input.plan.weights.map((w) => w.layer).filter((l) => l.includes('/'));
  assert.ok(base.length >= 30 && base.every((l) => l.startsWith('mobilenetv2_0.35_32/')), `the base's layers keep its name: ${base.slice(0, 3).join(', ')}`);

  const onnxFile = path.join(dir, 'm.onnx');
  // Verified too: the opset-21 file of a MobileNetV2 runs in onnxruntime-node as the studio simulates it.
  const verification = (await exportOnnx(input, onnxFile)).verification as unknown as { agreement: number; count: number; passed: boolean };
  assert.ok(verification.passed && verification.count === COUNT, JSON.stringify(verification));
  const model = decodeOnnx(readFileSync(onnxFile));
  const onnxMap = onnxLayerMap(model);
  assert.equal(Object.keys(onnxMap.nodes).length, model.graph!.node.length, 'every node is tagged');
  for (const t of model.graph!.initializer) assert.ok(layers.has(onnxMap.tensors[t.name] ?? t.metadataProps.find((m) => m.key === LAYER_KEY)?.value ?? ''), `initializer ${t.name}`);
  for (const [name, layer] of Object.entries(onnxMap.nodes)) assert.ok(layers.has(layer), `node ${name} → ${layer}`);
  for (const w of input.plan.weights) assert.equal(onnxMap.nodes[w.layer], w.layer, `the ${w.op} node of ${w.layer} is named by its path`);
  const adds = input.graph.nodes.filter((n) => n.op === 'add');
  assert.ok(adds.length > 0);
  for (const a of adds) assert.equal(onnxMap.nodes[a.name], a.name);

  const tfliteFile = path.join(dir, 'm.tflite');
  await exportTflite(input, tfliteFile, { verify: false });
  const tflite = decodeTflite(readFileSync(tfliteFile));
  const tfliteMap = tfliteLayerMap(tflite);
  const tensors = tflite.subgraphs[0]!.tensors.map((t) => t.name as string);
  assert.deepEqual(Object.keys(tfliteMap).sort(), [...new Set(tensors)].sort(), 'the map lists every tensor of the file');
  for (const name of tensors) {
    const layer = tfliteMap[name]!;
    assert.ok(layers.has(layer), `TFLite tensor ${name} → ${layer}`);
    // Named under its layer's path, but for the model's own input and output and quantizers named after the op they close.
    if (!['input', 'float_input', 'float_output'].includes(name)) {
      const quantizer = input.plan.activations.find((a) => name.startsWith(a.name) && a.layers.includes(layer));
      assert.ok(name.startsWith(`${layer}/`) || name === layer || quantizer, `TFLite tensor ${name} is named under ${layer}`);
    }
  }

  const paramsFile = path.join(dir, 'm.json');
  await exportParams(input, paramsFile);
  const params = JSON.parse(readFileSync(paramsFile, 'utf8')) as ParamsFile;
  assert.deepEqual(params.layerMap.onnx, onnxMap);
  assert.deepEqual(params.layerMap.tflite, { tensors: tfliteMap });
});
