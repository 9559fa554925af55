// exports.graph through the real dispatch (outputs validated against the
// contract) of a real studio: a PTQ run of the built-in fashion_cnn exported
// to ONNX and TFLite, each read back as its graph with every node in a layer
// of the model; a TF.js export, an unknown id and a file deleted after the
// export are refused with their reason.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { dispatch } from '../../../src-main/api/dispatch.js';
import type { ExportRecord, MethodOutput } from '../../../src-main/api/contract.js';
import { openStudio, type Studio } from '../../../src-main/studio.js';
import { tempDir } from '../../helpers/temp.js';

let studio: Studio;
let runId: number;
let layers: Set<string>;
let outDir: string;

async function call<T>(method: string, input: unknown): Promise<T> {
  const r = await dispatch(studio.handlers, method as never, input, { validateOutputs: true });
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.output as T;
}

before(async () => {
  const dir = tempDir();
  studio = await openStudio({ dbPath: path.join(dir, 'studio.sqlite'), host: 'cli', backend: 'wasm' });
  const modelId = (await call<{ id: number }>('models.importBuiltin', { name: 'fashion_cnn' })).id;
  layers = new Set((await call<{ layers: { name: string }[] }>('models.get', { id: modelId })).layers.map((l) => l.name));
  const datasetId = (await call<{ id: number; name: string }[]>('datasets.list', {})).find((d) => d.name === 'fashion-mnist-sample')!.id;
  const run = await call<{ id: number }>('runs.start', { kind: 'ptq', config: { modelId, datasetId, calibration: { count: 100, seed: 0 }, eval: { count: 100, seed: 1 } } });
  await studio.runs.settled(run.id);
  runId = run.id;
  outDir = tempDir('studio-graph-');
});

after(async () => {
  await studio?.close();
});

test('an ONNX and a TFLite export come back as their graphs, every node in a layer of the model', async () => {
  for (const format of ['onnx', 'tflite'] as const) {
    const record = await call<ExportRecord>('exports.create', { runId, format, path: path.join(outDir, `run.${format}`), verify: false });
    const graph = await call<MethodOutput<'exports.graph'>>('exports.graph', { id: record.id });
    assert.equal(graph.exportId, record.id);
    assert.equal(graph.path, record.path);
    assert.equal(graph.format, format);
    assert.ok(graph.nodes.length > 10, `${graph.nodes.length} nodes`);
    for (const n of graph.nodes) assert.ok(n.layer !== null && layers.has(n.layer), `${format} ${n.id} → ${n.layer}`);
    const ops = new Set(graph.nodes.map((n) => n.op));
    if (format === 'onnx') assert.ok(ops.has('QuantizeLinear') && ops.has('DequantizeLinear') && ops.has('Conv'), [...ops].join());
    else assert.ok(ops.has('CONV_2D') && graph.nodes.some((n) => n.fusedActivation === 'RELU'), [...ops].join());
  }
});

test('a TF.js export, an unknown id and a file gone from disk are refused with their reason', async () => {
  const tfjs = await call<ExportRecord>('exports.create', { runId, format: 'tfjs', path: path.join(outDir, 'tfjs-model'), verify: false });
  await assert.rejects(call('exports.graph', { id: tfjs.id }), /invalid_input: export \d+ is a tfjs export .*tfjs-model.*only ONNX and TFLite/);
  await assert.rejects(call('exports.graph', { id: 99999 }), /not_found: export 99999 does not exist/);
  const gone = await call<ExportRecord>('exports.create', { runId, format: 'onnx', path: path.join(outDir, 'gone.onnx'), verify: false });
  rmSync(gone.path);
  await assert.rejects(call('exports.graph', { id: gone.id }), /failed: export \d+: .*gone\.onnx: the exported file cannot be read \(ENOENT\)/);
});
