/**
 * AdaRound through the whole studio: API → run manager → engine worker →
 * SQLite, on fashion_dwsep (the built-in's seeded weights) and the bundled
 * Fashion-MNIST subset, 4-bit per-channel weights:
 *  - the summary's record per layer; the weight grid is the one the kernel
 *    before AdaRound gives (the same scales as the run without it);
 *  - the ONNX export writes AdaRound's integers: each kernel's INT4 values in
 *    the file are floor(u) + the stored choice, on the stored grid, and
 *    differ from nearest rounding exactly where the record says;
 *  - cancel during AdaRound stores nothing; too few calibration samples or
 *    AdaRound with bias correction are refused before a run row is written.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { JobProgress } from '../../../src-main/api/contract.js';
import { dispatch } from '../../../src-main/api/dispatch.js';
import { RunConfig } from '../../../src-main/api/run-config.js';
import type { WeightedNode } from '../../../src-main/engine/graph/types.js';
import { toOnnxLayout } from '../../../src-main/engine/onnx/ops/index.js';
import { decodeModel, tensorValues } from '../../../src-main/engine/onnx/proto.js';
import { prepare } from '../../../src-main/engine/prepare.js';
import { decodeRounding, kernelGrid } from '../../../src-main/engine/transform/adaround-grid.js';
import type { RecoveryRecord } from '../../../src-main/engine/transform/recovery.js';
import { exportPayloadFromStore } from '../../../src-main/export/payload.js';
import { qparamsFromRecords } from '../../../src-main/export/qparams-from-record.js';
import { openStudio, type Studio } from '../../../src-main/studio.js';
import { tempDir } from '../../helpers/temp.js';

let studio: Studio;
let modelId: number;
let datasetId: number;

async function call<T>(method: string, input: unknown): Promise<T> {
  const r = await dispatch(studio.handlers, method as never, input);
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.output as T;
}

before(async () => {
  studio = await openStudio({ dbPath: path.join(tempDir(), 'studio.sqlite'), host: 'cli', backend: 'wasm' });
  modelId = (await call<{ id: number }>('models.importBuiltin', { name: 'fashion_dwsep' })).id;
  datasetId = (await call<{ id: number; name: string }[]>('datasets.list', {})).find((d) => d.name === 'fashion-mnist-sample')!.id;
});

after(async () => {
  await studio.close();
});

const W4 = { bits: 4, symmetric: true, narrowRange: true, granularity: 'per-channel' } as const;
type Detail = { status: string; error: string | null; summary: { recovery: RecoveryRecord }; tensors: { layer: string; role: string; scale: number; sqnr: number | null }[] };

async function exportOnnx(runId: number, file: string): Promise<{ export?: { verification: Record<string, unknown> }; message?: string }> {
  let exportJobId = 0;
  const finished = new Promise<{ export?: { verification: Record<string, unknown> }; message?: string }>((resolve) => {
    const off = studio.events.subscribe((event, p) => {
      if ((p as { exportJobId: number }).exportJobId !== exportJobId) return;
      if (event === 'exports.finished' || event === 'exports.failed') {
        off();
        resolve(p as { export?: { verification: Record<string, unknown> }; message?: string });
      }
    });
  });
  exportJobId = (await call<{ exportJobId: number }>('exports.start', { runId, format: 'onnx', path: file })).exportJobId;
  return finished;
}

describe('PTQ with AdaRound', () => {
  test('fashion_dwsep W4 per-channel: the record, the pinned grid, and an ONNX export holding AdaRound’s integers', async () => {
    const base = { modelId, datasetId, calibration: { count: 256, seed: 0 }, eval: { count: 300, seed: 1 }, weights: W4 };
    const config = { ...base, recovery: { adaround: { iterations: 400, batchSize: 16 } } };
    const plain = await call<{ id: number }>('runs.start', { kind: 'ptq', config: base });
    const run = await call<{ id: number; name: string }>('runs.start', { kind: 'ptq', config });
    assert.match(run.name, /_adaround400$/);
    await studio.runs.settled(plain.id);
    await studio.runs.settled(run.id);
    const detail = await call<Detail>('runs.get', { id: run.id });
    const plainDetail = await call<Detail>('runs.get', { id: plain.id });
    assert.equal(detail.status, 'done', detail.error ?? '');
    const rec = detail.summary.recovery.adaround!;
    const layers = ['conv2d', 'depthwise_conv2d', 'conv2d_1', 'depthwise_conv2d_1', 'conv2d_2', 'depthwise_conv2d_2', 'conv2d_3', 'dense'];
    assert.deepEqual(rec.layers.map((l) => l.layer), layers);
    assert.equal(rec.samples, 256);
    const total = (k: 'mseNearest' | 'mseAdaround') => rec.layers.reduce((a, l) => a + l[k], 0);
    console.log(rec.layers.map((l) => `${l.layer}: ${l.mseNearest.toExponential(2)} → ${l.mseAdaround.toExponential(2)}, ${l.roundedUp}+${l.roundedDown} of ${l.weights} moved, ${l.seconds.toFixed(1)} s`).join('\n'));
    assert.ok(total('mseAdaround') < total('mseNearest'), `AdaRound ${total('mseAdaround')} vs nearest ${total('mseNearest')}`);
    assert.ok(rec.layers.some((l) => l.roundedUp + l.roundedDown > 0), 'some weights left nearest rounding');

    // The grid is the kernel's before AdaRound: the weight scales of the run without it, the SQNR against the float kernel lower.
    const weights = (d: Detail) => new Map(d.tensors.filter((t) => t.role === 'weight').map((t) => [t.layer, t]));
    const [a, b] = [weights(detail), weights(plainDetail)];
    for (const layer of layers) assert.equal(a.get(layer)!.scale, b.get(layer)!.scale, `${layer} scale`);
    assert.ok(layers.some((l) => a.get(l)!.sqnr! < b.get(l)!.sqnr!), 'rounding away from nearest costs weight SQNR');

    // The ONNX file's INT4 kernels are floor(u) + the stored choice, in the signed domain.
    const file = path.join(tempDir(), 'adaround.onnx');
    const outcome = await exportOnnx(run.id, file);
    assert.ok(outcome.export, outcome.message);
    assert.ok((outcome.export.verification['agreement'] as number) >= 0.99, JSON.stringify(outcome.export.verification));
    const payload = exportPayloadFromStore(studio.store, run.id, 'onnx', file);
    const { graph, plan } = prepare(payload.model, RunConfig.parse(config));
    const qparams = qparamsFromRecords(plan, payload.records);
    const inits = new Map(decodeModel(readFileSync(file)).graph!.initializer.map((t) => [t.name, t]));
    for (const l of rec.layers) {
      const wq = plan.weights.find((w) => w.layer === l.layer)!;
      const node = graph.nodes.find((n) => n.name === l.layer) as WeightedNode;
      const qp = qparams.get(wq.name)!;
      const grid = kernelGrid(node.weights.kernel.values, wq, qp);
      const up = decodeRounding(l.rounding, grid.floor.length, l.layer);
      // Grid index k → TF's unsigned integer k + qmin → the file's signed domain, less 2^(bits−1).
      const signed = (bit: Uint8Array) => Int32Array.from(grid.floor, (f, i) => Math.min(Math.max(f + bit[i]!, 0), grid.levels) + qp.qmin - 2 ** (qp.bits - 1));
      const expected = toOnnxLayout(node, signed(up), (n) => new Int32Array(n));
      const inFile = tensorValues(inits.get(`${l.layer}/kernel/quantized`)!);
      assert.deepEqual(inFile, Array.from(expected), `${l.layer}: the file's integers are AdaRound's`);
      const nearest = toOnnxLayout(node, signed(grid.nearest), (n) => new Int32Array(n));
      const moved = inFile.filter((v, i) => v !== nearest[i]).length;
      assert.equal(moved, l.roundedUp + l.roundedDown, `${l.layer}: weights away from nearest`);
    }
  });

  test('cancel during AdaRound: the run is cancelled before calibration and stores no tensors', async () => {
    const config = { modelId, datasetId, calibration: { count: 256, seed: 0 }, eval: { count: 200, seed: 1 }, weights: W4, recovery: { adaround: { iterations: 100_000 } } };
    const run = await call<{ id: number }>('runs.start', { kind: 'ptq', config });
    const phases: string[] = [];
    await new Promise<void>((resolve) => {
      const off = studio.events.subscribe((e, p) => {
        if (e !== 'job.progress' || (p as JobProgress).runId !== run.id) return;
        phases.push((p as JobProgress).phase);
        if ((p as JobProgress).phase === 'adaround' && (p as JobProgress).done > 0) {
          off();
          resolve();
        }
      });
    });
    assert.deepEqual(await call('runs.cancel', { id: run.id }), { cancelled: true });
    await studio.runs.settled(run.id);
    const detail = await call<{ status: string; tensors: unknown[] }>('runs.get', { id: run.id });
    assert.equal(detail.status, 'cancelled');
    assert.equal(detail.tensors.length, 0);
    assert.ok(!phases.includes('calibrate'), `phases ${phases.join(', ')}`);
  });

  test('refused before a run row: fewer calibration samples than a batch (both numbers named), and with bias correction', async () => {
    const before = (await call<unknown[]>('runs.list', {})).length;
    const few = await dispatch(studio.handlers, 'runs.start', { kind: 'ptq', config: { modelId, datasetId, calibration: { count: 20 }, recovery: { adaround: { batchSize: 32 } } } });
    assert.equal(few.ok, false);
    if (!few.ok) assert.match(few.error.message, /AdaRound needs at least one batch of 32 calibration samples; the calibration split has 20/);
    const both = await dispatch(studio.handlers, 'runs.start', { kind: 'ptq', config: { modelId, datasetId, recovery: { adaround: {}, biasCorrection: 'analytic' } } });
    assert.equal(both.ok, false);
    if (!both.ok) assert.match(both.error.message, /AdaRound and analytic bias correction do not go together/);
    const qat = await dispatch(studio.handlers, 'runs.start', { kind: 'qat', config: { modelId, datasetId, recovery: { adaround: {} } } });
    assert.equal(qat.ok, false);
    assert.equal((await call<unknown[]>('runs.list', {})).length, before);
  });
});
