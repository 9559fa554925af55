/**
 * An exported file read back as its graph (export/file-graph): a real PTQ run
 * of the bundled sample CNN (per-channel weights) written as ONNX and as
 * TFLite. The ONNX graph holds a QuantizeLinear → DequantizeLinear pair per
 * activation quantizer of the plan and a DequantizeLinear per kernel, with
 * the scales the run computed (as float32); the TFLite graph holds the
 * activations fused into CONV_2D / FULLY_CONNECTED; every node maps to a
 * layer of the model. Formats without a graph and unreadable files are
 * refused naming the file.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { readFileGraph, type FileGraph, type FileNode } from '../../../../src-main/export/file-graph/index.js';
import { exportOnnx } from '../../../../src-main/export/onnx/index.js';
import { exportTflite } from '../../../../src-main/export/tflite/index.js';
import type { ExportInput } from '../../../../src-main/export/types.js';
import { tempDir } from '../../../helpers/temp.js';
import { PER_CHANNEL, ptqExport } from '../export-fixtures.js';

let input: ExportInput;
let onnx: FileGraph;
let tflite: FileGraph;
let dir: string;

before(async () => {
  await initBackend('wasm');
  dir = tempDir('studio-file-graph-');
  input = (await ptqExport('fashion_cnn', { weights: PER_CHANNEL }, 100)).input;
  await exportOnnx(input, path.join(dir, 'cnn.onnx'), { verify: false });
  await exportTflite(input, path.join(dir, 'cnn.tflite'), { verify: false });
  onnx = await readFileGraph(path.join(dir, 'cnn.onnx'), 'onnx');
  tflite = await readFileGraph(path.join(dir, 'cnn.tflite'), 'tflite');
});

const f32 = (x: number) => Math.fround(x);
const byId = (g: FileGraph, id: string): FileNode => {
  const n = g.nodes.find((x) => x.id === id);
  assert.ok(n, `node ${id} in ${g.format} graph: ${g.nodes.map((x) => x.id).join(', ')}`);
  return n;
};

test('ONNX: one QuantizeLinear → DequantizeLinear pair per activation quantizer, with the run’s scale', () => {
  const qs = onnx.nodes.filter((n) => n.op === 'QuantizeLinear');
  assert.equal(qs.length, input.plan.activations.length, 'a Q per activation quantizer');
  for (const aq of input.plan.activations) {
    const q = byId(onnx, `${aq.name}/QuantizeLinear`);
    const stored = q.outputs[0]!;
    // The pair: the quantized tensor goes from Q to exactly one DQ, nowhere else.
    const readers = onnx.edges.filter((e) => e.source === q.id);
    assert.equal(readers.length, 1, `${q.id} read once`);
    const dq = byId(onnx, readers[0]!.target);
    assert.equal(dq.op, 'DequantizeLinear');
    assert.equal(dq.inputs[0]!.name, stored.name);
    const scale = f32(input.qparams.get(aq.name)!.scale[0]!);
    assert.deepEqual([stored.quant?.channels, stored.quant?.scaleMin, stored.quant?.scaleMax], [1, scale, scale], `${aq.name} scale`);
    assert.equal(stored.dtype, 'uint8', 'activations are stored as uint8 in the QDQ file');
    assert.ok(q.layer !== null && aq.layers.includes(q.layer) || q.layer === input.graph.nodes[0]!.name, `${q.id} → ${q.layer}, one of ${aq.layers.join(', ')}`);
  }
});

test('ONNX: each kernel is an int8 initializer dequantized per channel with the run’s scales, in its layer', () => {
  assert.equal(input.plan.weights.length, 4);
  for (const wq of input.plan.weights) {
    const dq = byId(onnx, `${wq.name}/DequantizeLinear`);
    assert.equal(dq.layer, wq.layer);
    const kernel = dq.inputs[0]!;
    assert.equal(kernel.constant, true);
    assert.equal(kernel.dtype, 'int8');
    const scales = Array.from(input.qparams.get(wq.name)!.scale, f32);
    assert.equal(kernel.quant?.channels, wq.channels);
    assert.equal(kernel.quant?.scaleMin, Math.min(...scales));
    assert.equal(kernel.quant?.scaleMax, Math.max(...scales));
    assert.deepEqual([kernel.quant?.zeroPointMin, kernel.quant?.zeroPointMax], [0, 0], 'symmetric');
    // Its output feeds the layer's Conv / Gemm, named as the layer.
    const op = byId(onnx, wq.layer);
    assert.ok(['Conv', 'Gemm', 'MatMul'].includes(op.op), op.op);
    assert.ok(onnx.edges.some((e) => e.source === dq.id && e.target === op.id));
  }
  assert.deepEqual(byId(onnx, 'conv2d').inputs[1]!.name, 'conv2d/kernel');
});

test('ONNX: every node maps to a layer of the model, and the edges follow the tensors', () => {
  const layers = new Set(input.graph.nodes.map((n) => n.name));
  for (const n of onnx.nodes) assert.ok(n.layer !== null && layers.has(n.layer), `${n.id} → ${n.layer}`);
  assert.deepEqual(onnx.inputs, ['input']);
  assert.deepEqual(onnx.outputs, ['output']);
  assert.equal(byId(onnx, 'input').outputs[0]!.shape?.join(), 'batch,28,28,1');
  // Every computed input has one producer edge; initializers have none.
  const computed = onnx.nodes.flatMap((n) => n.inputs.filter((t) => !t.constant).map(() => n.id));
  assert.equal(onnx.edges.length, computed.length);
  assert.equal(new Set(onnx.nodes.map((n) => n.id)).size, onnx.nodes.length, 'ids are unique');
});

test('TFLite: activations fused into CONV_2D and FULLY_CONNECTED, int8 tensors with their stored quantization, every operator in its layer', () => {
  assert.deepEqual(tflite.nodes.map((n) => n.op), ['Input', 'QUANTIZE', 'CONV_2D', 'MAX_POOL_2D', 'CONV_2D', 'MAX_POOL_2D', 'RESHAPE', 'FULLY_CONNECTED', 'FULLY_CONNECTED', 'SOFTMAX', 'DEQUANTIZE']);
  const conv = byId(tflite, 'conv2d/output');
  assert.equal(conv.layer, 'conv2d');
  assert.equal(conv.fusedActivation, 'RELU', 'the separate Activation layer is fused into the convolution');
  assert.equal(byId(tflite, 'dense/output').fusedActivation, 'RELU');
  assert.equal(byId(tflite, 'dense_1/logits').fusedActivation, null);
  const kernel = conv.inputs[1]!;
  assert.deepEqual([kernel.name, kernel.dtype, kernel.constant, kernel.shape?.join()], ['conv2d/kernel', 'int8', true, '32,3,3,1']);
  const scales = Array.from(input.qparams.get('conv2d/kernel')!.scale, f32);
  assert.deepEqual(kernel.quant, { channels: 32, axis: 0, scaleMin: Math.min(...scales), scaleMax: Math.max(...scales), zeroPointMin: 0, zeroPointMax: 0 });
  assert.equal(conv.inputs[2]!.dtype, 'int32', 'the bias is int32');
  const out = conv.outputs[0]!;
  assert.equal(out.quant?.channels, 1);
  assert.equal(out.quant?.scaleMin, f32(input.qparams.get('conv2d/output')!.scale[0]!));
  const layers = new Set(input.graph.nodes.map((n) => n.name));
  for (const n of tflite.nodes) assert.ok(n.layer !== null && layers.has(n.layer), `${n.id} → ${n.layer}`);
  assert.equal(tflite.edges.length, tflite.nodes.length - 1, 'a chain');
});

test('formats without a graph, missing and foreign files are refused naming the file', async () => {
  await assert.rejects(readFileGraph(path.join(dir, 'model'), 'tfjs'), /model: a tfjs export has no operator graph to show/);
  await assert.rejects(readFileGraph(path.join(dir, 'gone.onnx'), 'onnx'), /gone\.onnx: the exported file cannot be read \(ENOENT\)/);
  const junk = path.join(dir, 'junk.tflite');
  writeFileSync(junk, 'not a flatbuffer at all');
  await assert.rejects(readFileGraph(junk, 'tflite'), /junk\.tflite: not a TFLite model/);
  await assert.rejects(readFileGraph(path.join(dir, 'cnn.tflite'), 'onnx'), /cnn\.tflite: (not an ONNX model|the ONNX model has no graph nodes)/);
});
