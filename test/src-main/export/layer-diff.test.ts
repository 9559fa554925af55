/**
 * Layer-by-layer diff of exported files (issue 16 item 3) on the bundled
 * sample CNN, W8A8 with per-channel weights, real PTQ on the Fashion-MNIST
 * subset: the file's integers at every activation quantizer against the
 * studio's simulation, over the first 64 eval samples, for ONNX (onnxruntime)
 * and TFLite (the interpreter):
 *  - the export as written: every layer within one step;
 *  - a copy with one activation scale doubled (decoded, changed, encoded):
 *    that layer is the first divergence, the layers before it unchanged;
 *  - an export with verification stores the diff in its verification.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { initBackend } from '../../../src-main/engine/backend.js';
import { decodeOnnx, encodeOnnx } from '../../../src-main/engine/onnx/build.js';
import { floats, tensorValues } from '../../../src-main/engine/onnx/proto.js';
import { onnxLayerDiff, quantizersInOrder } from '../../../src-main/export/diff/onnx-diff.js';
import { exportOnnx } from '../../../src-main/export/onnx/index.js';
import type { LayerDiffReport } from '../../../src-main/export/diff/layer-diff.js';
import { tfliteLayerDiff } from '../../../src-main/export/diff/tflite-diff.js';
import { decodeTflite, encodeTflite } from '../../../src-main/export/tflite/build.js';
import { exportTflite, prepareTflite, preprocessingOf } from '../../../src-main/export/tflite/index.js';
import type { TfliteQuant } from '../../../src-main/engine/targets/tflite/quant.js';
import { PER_CHANNEL, ptqExport, type PtqExport } from './export-fixtures.js';
import { tempDir } from '../../helpers/temp.js';

let dir: string;
let run: PtqExport;
let file: string;
let tflite: string;
let quant: TfliteQuant;
before(async () => {
  await initBackend('wasm');
  dir = tempDir('studio-diff-');
  run = await ptqExport('fashion_cnn', { weights: PER_CHANNEL }, 100);
  file = path.join(dir, 'cnn-pc.onnx');
  await exportOnnx(run.input, file, { verify: false });
  tflite = path.join(dir, 'cnn-pc.tflite');
  await exportTflite(run.input, tflite, { verify: false });
  quant = await prepareTflite(run.input);
});

/** Every row within one step, values counted, no divergence. */
function assertWithinOneStep(r: LayerDiffReport, sizeOf: (layer: string) => number): void {
  assert.equal(r.samples, 64);
  for (const l of r.layers) {
    assert.equal(l.values, 64 * sizeOf(l.layer), `${l.layer}: values`);
    assert.ok(l.maxSteps <= 1, `${l.layer}: ${l.maxSteps} steps`);
    assert.ok(l.beyondOne === 0 && l.offByOne < 0.01, `${l.layer}: off by one ${l.offByOne}`);
    // Off by at most a step on a few values: SQNR far above 8-bit quantization noise (~40-50 dB).
    assert.ok(l.sqnr === null || l.sqnr > 50, `${l.layer}: SQNR ${l.sqnr}`);
  }
  assert.equal(r.firstDivergence, null);
}

/** The corrupted layer is the first divergence, the ones before it within a step, and it is many steps off. */
function assertPartsAt(r: LayerDiffReport, layer: string): void {
  assert.equal(r.firstDivergence, layer);
  const i = r.layers.findIndex((l) => l.layer === layer);
  assert.ok(i > 0);
  for (const l of r.layers.slice(0, i)) assert.ok(l.maxSteps <= 1, `${l.layer} before the corrupted one: ${l.maxSteps} steps`);
  // Half the scale's integers: about half the values move, by up to half the range.
  const hit = r.layers[i]!;
  assert.ok(hit.maxSteps > 10 && hit.beyondOne > 0.1, `${hit.layer}: ${hit.maxSteps} steps, ${hit.beyondOne} beyond one`);
}

const sizeOfNode = (layer: string, nodes: readonly { name: string; outputShape: number[] }[]) => nodes.find((n) => n.name === layer)!.outputShape.reduce((a, b) => a * b, 1);

describe('ONNX layer diff', () => {
  test('the export as written: every quantized tensor within one step of the simulation', async () => {
    const r = await onnxLayerDiff(file, run.input);
    assert.deepEqual(r.layers.map((l) => l.tensor), quantizersInOrder(run.input).map((a) => a.name), 'one row a quantizer, in the model order');
    assertWithinOneStep(r, (l) => sizeOfNode(l, run.input.graph.nodes));
  });

  test('a copy with one activation scale doubled parts at exactly that layer', async () => {
    const order = quantizersInOrder(run.input);
    const victim = order[Math.floor(order.length / 2)]!;
    assert.ok(order.indexOf(victim) > 0, 'a layer after the first, so earlier ones can be checked');
    const model = decodeOnnx(readFileSync(file));
    const inits = model.graph!.initializer;
    const at = inits.findIndex((t) => t.name === `${victim.name}/scale`);
    assert.ok(at >= 0, `initializer ${victim.name}/scale`);
    const old = inits[at]!;
    inits[at] = floats(old.name, old.dims.map(Number), tensorValues(old).map((s) => s * 2));
    const corrupted = path.join(dir, 'corrupted.onnx');
    writeFileSync(corrupted, encodeOnnx(model));

    assertPartsAt(await onnxLayerDiff(corrupted, run.input), victim.at);
  });
});

describe('TFLite layer diff', () => {
  const diff = (f: string) => tfliteLayerDiff(f, quant, run.input.samples!, { preprocessing: preprocessingOf(quant) });

  test('the export as written: every int8 activation within one step of the simulation', async () => {
    const r = await diff(tflite);
    // Every planned activation of the file (the lowered model, the softmax split off), in the model's order.
    assert.deepEqual(r.layers.map((l) => l.tensor), ['input', 'conv2d/output', 'conv2d_1/output', 'dense/output', 'dense_1/logits', 'dense_1/output']);
    assert.equal(r.notInFile, undefined);
    assertWithinOneStep(r, (l) => (l === 'dense_1/softmax' ? 10 : sizeOfNode(l, run.input.graph.nodes)));
  });

  test('a copy with one activation scale doubled parts at exactly that layer', async () => {
    const model = decodeTflite(readFileSync(tflite));
    const t = model.subgraphs[0]!.tensors.find((x) => x.name === 'conv2d_1/output')!;
    t.quantization!.scale = t.quantization!.scale.map((s) => s * 2);
    const corrupted = path.join(dir, 'corrupted.tflite');
    writeFileSync(corrupted, encodeTflite(model));
    assertPartsAt(await diff(corrupted), quantizersInOrder(run.input).find((a) => a.name === 'conv2d_1/output')!.at);
  });
});

describe('an export with verification stores the layer diff', () => {
  for (const format of ['onnx', 'tflite'] as const) {
    test(`${format}: verification.layerDiff, every layer within one step`, async () => {
      const write = format === 'onnx' ? exportOnnx : exportTflite;
      const r = await write(run.input, path.join(dir, `verified.${format}`));
      const d = (r.verification as { layerDiff?: LayerDiffReport }).layerDiff;
      assert.ok(d, 'layerDiff stored');
      assert.equal(d.format, format);
      assert.equal(d.firstDivergence, null);
      assert.ok(d.layers.length >= 5 && d.layers.every((l) => l.maxSteps <= 1));
      const skipped = await write(run.input, path.join(dir, `verified-nodiff.${format}`), { layerDiff: false });
      assert.equal((skipped.verification as { layerDiff?: unknown }).layerDiff, undefined);
    });
  }
});
