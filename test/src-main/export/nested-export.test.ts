/**
 * A nested model all the way through: the trained sample CNN cut into a
 * functional base and a functional Dense head, put in a Sequential (as
 * Teachable Machine and Keras transfer learning nest them), imported with
 * path names (fashion_base/conv2d…), calibrated, then exported as TF.js, ONNX
 * and TFLite and verified in each runtime against the studio's simulation.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { initBackend } from '../../../src-main/engine/backend.js';
import { serializeGraph } from '../../../src-main/engine/graph/serialize.js';
import { preparePtq, runPtq } from '../../../src-main/engine/ptq/run.js';
import { exportOnnx } from '../../../src-main/export/onnx/index.js';
import { qparamsFromRecords } from '../../../src-main/export/qparams-from-record.js';
import { exportTflite } from '../../../src-main/export/tflite/index.js';
import { exportTfjs } from '../../../src-main/export/tfjs.js';
import { decodeOnnx, LAYER_KEY } from '../../../src-main/engine/onnx/build.js';
import { onnxLayerMap } from '../../../src-main/export/onnx/layer-map.js';
import { decodeTflite, tfliteLayerMap } from '../../../src-main/export/tflite/build.js';
import { exportParams, type ParamsFile } from '../../../src-main/export/params.js';
import type { ExportInput } from '../../../src-main/export/types.js';
import { samplesFromPart } from '../../../src-main/engine/eval-samples.js';
import { nestedSample } from './nested-fixtures.js';
import { config, context, SAMPLE_DATA } from '../engine/ptq/ptq-fixtures.js';
import { tempDir } from '../../helpers/temp.js';

let dir: string;
let input: ExportInput;

before(async () => {
  await initBackend('wasm');
  dir = tempDir('studio-nested-export-');
  const graph = await nestedSample();
  const cfg = config({ eval: { count: 300, seed: 1 }, weights: { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' } });
  const payload = { config: cfg, modelName: 'fashion_nested', model: serializeGraph(graph), dataset: SAMPLE_DATA };
  const results = await runPtq(payload, context());
  const prep = preparePtq(payload);
  const samples = samplesFromPart(prep.data.parts.test, prep.evalIdx, prep.graph.nodes[0]!.outputShape);
  input = { modelName: 'fashion_nested', config: cfg, graph: prep.graph, plan: prep.plan, qparams: qparamsFromRecords(prep.plan, results.tensors), records: results.tensors, samples };
});

test('the plan names its quantizers by path', () => {
  assert.deepEqual(
    input.plan.weights.map((w) => w.name),
    ['fashion_base/conv2d/kernel', 'fashion_base/conv2d_1/kernel', 'fashion_head/dense/kernel', 'fashion_head/dense_1/kernel'],
  );
});

interface Verified {
  agreement: number;
  runtimeAccuracy: number;
  simulationAccuracy: number;
  passed: boolean;
}

const formats: [string, (file: string) => Promise<{ verification?: unknown }>][] = [
  ['tfjs', (file) => exportTfjs(input, file)],
  ['onnx', (file) => exportOnnx(input, `${file}.onnx`)],
  ['tflite', (file) => exportTflite(input, `${file}.tflite`)],
];

for (const [format, write] of formats) {
  test(`${format}: written with the path names, and its runtime agrees with the simulation`, async () => {
    const file = path.join(dir, `nested-${format}`);
    const r = await write(file);
    const v = r.verification as Verified;
    assert.ok(v.passed, JSON.stringify(v));
    assert.ok(v.agreement >= 0.995, `agreement ${v.agreement}`);
    assert.ok(Math.abs(v.runtimeAccuracy - v.simulationAccuracy) <= 0.001 + 1e-12, `accuracy ${v.runtimeAccuracy} vs ${v.simulationAccuracy}`);
    assert.ok(v.runtimeAccuracy > 0.8, `the trained sample still classifies (${v.runtimeAccuracy})`);
    if (format === 'tfjs') {
      // tfjs-layers takes '/' in layer names: the weights keep their path.
      const manifest = JSON.parse(readFileSync(path.join(file, 'model.json'), 'utf8')).weightsManifest[0].weights as { name: string }[];
      assert.ok(manifest.some((w) => w.name === 'fashion_base/conv2d/kernel'), manifest.map((w) => w.name).join(', '));
    }
  });
}

test('layer mapping: every ONNX node and initializer and every TFLite tensor carries its Keras layer path, and the params sidecar lists them', async () => {
  const layers = new Set(input.graph.nodes.map((n) => n.name));
  const weighted = input.plan.weights.map((w) => w.layer);

  const onnxFile = path.join(dir, 'map.onnx');
  await exportOnnx(input, onnxFile, { verify: false });
  const model = decodeOnnx(readFileSync(onnxFile));
  const g = model.graph!;
  for (const n of g.node) {
    const tag = n.metadataProps.find((m) => m.key === LAYER_KEY)?.value;
    assert.ok(tag && layers.has(tag), `node ${n.name}: layer tag ${tag}`);
    assert.equal(n.docString, `${LAYER_KEY}: ${tag}`);
    // Ops of a layer are named under its path (a layout Transpose after the value it moves; the input quantizer's QDQ pair after the quantizer, `input`).
    const underQuantizer = input.plan.activations.some((a) => n.name.startsWith(`${a.name}/`) && a.layers.includes(tag));
    if (n.opType !== 'Transpose' && n.opType !== 'Identity') assert.ok(n.name.startsWith(`${tag}/`) || n.name === tag || underQuantizer, `node ${n.name} is under ${tag}`);
  }
  for (const t of g.initializer) assert.ok(layers.has(t.metadataProps.find((m) => m.key === LAYER_KEY)?.value ?? ''), `initializer ${t.name} has a layer tag`);
  const onnxMap = onnxLayerMap(model);
  // Netron and back: the node named after a layer is that layer's, and its kernel's integers are found under the same path.
  for (const layer of weighted) {
    assert.equal(onnxMap.nodes[layer], layer);
    assert.equal(onnxMap.tensors[`${layer}/kernel/quantized`], layer);
  }
  assert.equal(onnxMap.nodes['fashion_base/conv2d'], 'fashion_base/conv2d');

  const tfliteFile = path.join(dir, 'map.tflite');
  await exportTflite(input, tfliteFile, { verify: false });
  const tflite = decodeTflite(readFileSync(tfliteFile));
  const tfliteMap = tfliteLayerMap(tflite);
  for (const t of tflite.subgraphs[0]!.tensors) {
    const layer = tfliteMap[t.name as string];
    assert.ok(layer && layers.has(layer), `TFLite tensor ${t.name}: layer ${layer}`);
  }
  for (const layer of weighted) {
    assert.equal(tfliteMap[`${layer}/kernel`], layer);
    assert.equal(tfliteMap[`${layer}/bias`], layer);
  }

  const paramsFile = path.join(dir, 'map.json');
  await exportParams(input, paramsFile);
  const params = JSON.parse(readFileSync(paramsFile, 'utf8')) as ParamsFile;
  assert.deepEqual(params.layerMap.onnx, onnxMap);
  assert.deepEqual(params.layerMap.tflite, { tensors: tfliteMap });
});
