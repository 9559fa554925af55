import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { StoreConflictError, type RunResults, type Store, type TensorResult } from '../../../src-main/store/index.js';
import { seed, tempStore } from './helpers.js';

function runningRun(store: Store): number {
  const { modelId, datasetId } = seed(store);
  const run = store.runs.create({ kind: 'ptq', config: { modelId, datasetId } });
  store.runs.markRunning(run.id, 'cpu');
  return run.id;
}

function bytes(a: Float32Array | Int32Array | Uint32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Awkward float32 bit patterns: -0, NaN payloads, denormals, infinities, extremes. */
function awkwardFloats(n: number): Float32Array {
  const bits = new Uint32Array(n);
  const special = [0x80000000, 0x7fc00001, 0xffc12345, 0x7f800001, 0x00000001, 0x807fffff, 0x7f800000, 0xff800000, 0x7f7fffff, 0x3eaaaaab];
  for (let i = 0; i < n; i++) bits[i] = special[i % special.length]! ^ (i >>> 4);
  return new Float32Array(bits.buffer);
}

function tensor(layer: string, channels: number, extra: Partial<TensorResult> = {}): TensorResult {
  return {
    layer, role: 'weight', granularity: 'per-channel', axis: 3, bits: 8, symmetric: true, narrowRange: true,
    channels, min: -1.5, max: 1.25, scale: 1.5 / 127, zeroPoint: 0, sqnr: 31.5, clipRate: null, ...extra,
  };
}

test('per-channel Float32Array / Int32Array round-trip bit-exact, including views at odd offsets', (t) => {
  const store = tempStore(t);
  const runId = runningRun(store);
  const n = 257;
  // Views into a larger buffer, so the source byteOffset is not 0.
  const backing = new ArrayBuffer(4 * (6 * n + 8));
  const view = <T extends Float32Array | Int32Array>(C: new (b: ArrayBuffer, offset: number, length: number) => T, k: number): T =>
    new C(backing, 4 * (1 + k * n), n);
  const min = view(Float32Array, 0);
  min.set(awkwardFloats(n));
  const max = view(Float32Array, 1);
  max.set(awkwardFloats(n).reverse());
  const scale = view(Float32Array, 2);
  for (let i = 0; i < n; i++) scale[i] = Math.fround(1 / (i + 3));
  const zeroPoint = view(Int32Array, 3);
  for (let i = 0; i < n; i++) zeroPoint[i] = i % 2 ? -2147483648 + i : 2147483647 - i;
  const sqnr = view(Float32Array, 4);
  sqnr.set(awkwardFloats(n).map((v, i) => v + i));

  store.tensors.saveRunResults(runId, {
    tensors: [
      tensor('conv_1', n, { perChannel: { min, max, scale, zeroPoint, sqnr } }),
      tensor('dense_1', 3, { perChannel: { min: new Float32Array(3), max: new Float32Array(3), scale: new Float32Array(3), zeroPoint: new Int32Array(3) } }),
      tensor('conv_1', 1, { role: 'activation', granularity: 'per-tensor', axis: null, symmetric: false, narrowRange: false, zeroPoint: -128, sqnr: null, clipRate: 0.001 }),
    ],
    histograms: [
      { layer: 'conv_1', role: 'activation', lo: -2, hi: 6, rangeMin: 0, rangeMax: 5.9, counts: new Uint32Array([0, 1, 4294967295, 7]) },
      { layer: 'conv_1', role: 'weight', lo: -1.5, hi: 1.25, rangeMin: -1.5, rangeMax: 1.25, counts: awkwardFloats(33) },
    ],
    quantAccuracy: 0.875,
  });

  const got = store.tensors.channels(runId, 'conv_1', 'weight')!;
  assert.ok(got.min instanceof Float32Array && got.zeroPoint instanceof Int32Array && got.sqnr instanceof Float32Array);
  assert.deepEqual(bytes(got.min), bytes(min));
  assert.deepEqual(bytes(got.max), bytes(max));
  assert.deepEqual(bytes(got.scale), bytes(scale));
  assert.deepEqual(bytes(got.zeroPoint), bytes(zeroPoint));
  assert.deepEqual(bytes(got.sqnr!), bytes(sqnr));
  assert.equal(Object.is(got.min[0], -0), true);
  assert.equal(store.tensors.channels(runId, 'dense_1', 'weight')?.sqnr, null);
  assert.equal(store.tensors.channels(runId, 'conv_1', 'activation'), undefined, 'per-tensor: no channel row');

  const u = store.tensors.histogram(runId, 'conv_1', 'activation')!;
  assert.ok(u.counts instanceof Uint32Array);
  assert.deepEqual([...u.counts], [0, 1, 4294967295, 7]);
  assert.equal(u.rangeMax, 5.9);
  const f = store.tensors.histogram(runId, 'conv_1', 'weight')!;
  assert.ok(f.counts instanceof Float32Array);
  assert.deepEqual(bytes(f.counts), bytes(awkwardFloats(33)));
  assert.equal(store.tensors.histogram(runId, 'nope', 'weight'), undefined);

  const records = store.tensors.tensors(runId);
  assert.deepEqual(records.map((r) => `${r.layer}/${r.role}`), ['conv_1/weight', 'dense_1/weight', 'conv_1/activation']);
  assert.deepEqual(records[2], {
    layer: 'conv_1', role: 'activation', granularity: 'per-tensor', axis: null, bits: 8, symmetric: false, narrowRange: false,
    channels: 1, min: -1.5, max: 1.25, scale: 1.5 / 127, zeroPoint: -128, sqnr: null, clipRate: 0.001,
  });
  const detail = store.runs.detail(runId)!;
  assert.equal(detail.status, 'done');
  assert.equal(detail.quantAccuracy, 0.875);
  assert.equal(detail.tensors.length, 3);
});

function assertNothingSaved(store: Store, runId: number): void {
  const db = new Database(store.path, { readonly: true });
  try {
    for (const table of ['run_tensors', 'histograms']) {
      assert.equal(db.prepare(`SELECT count(*) FROM ${table} WHERE run_id = ?`).pluck().get(runId), 0, table);
    }
    assert.equal(db.prepare(`SELECT count(*) FROM run_channels`).pluck().get(), 0);
  } finally {
    db.close();
  }
  const run = store.runs.get(runId)!;
  assert.equal(run.status, 'running');
  assert.equal(run.quantAccuracy, null);
  assert.equal(run.finishedAt, null);
}

test('saveRunResults that fails halfway leaves no rows and the run unchanged', (t) => {
  const store = tempStore(t);
  const runId = runningRun(store);
  const good = tensor('conv_1', 2, { perChannel: { min: new Float32Array(2), max: new Float32Array(2), scale: new Float32Array(2), zeroPoint: new Int32Array(2) } });
  const base: Omit<RunResults, 'tensors'> = {
    quantAccuracy: 0.5,
    histograms: [{ layer: 'conv_1', role: 'weight', lo: 0, hi: 1, rangeMin: 0, rangeMax: 1, counts: new Float32Array(8) }],
  };

  // A constraint violation in SQL, after rows were already written.
  const duplicate = { ...base, tensors: [good, tensor('dense_1', 1), tensor('conv_1', 1)] };
  assert.throws(() => store.tensors.saveRunResults(runId, duplicate), /UNIQUE/);
  assertNothingSaved(store, runId);

  const badRole = { ...base, tensors: [good, tensor('dense_1', 1, { role: 'gamma' })] };
  assert.throws(() => store.tensors.saveRunResults(runId, badRole), /CHECK/);
  assertNothingSaved(store, runId);

  // A vector of the wrong length, caught in code after the first tensor was written.
  const short = { ...base, tensors: [good, tensor('dense_1', 4, { perChannel: { min: new Float32Array(3), max: new Float32Array(4), scale: new Float32Array(4), zeroPoint: new Int32Array(4) } })] };
  assert.throws(() => store.tensors.saveRunResults(runId, short), /dense_1\/weight: per-channel min has 3 values but channels is 4/);
  assertNothingSaved(store, runId);

  // A bad histogram after every tensor was written.
  const badHistogram = { ...base, tensors: [good], histograms: [{ layer: 'x', role: 'weight', lo: Number.NaN, hi: 1, rangeMin: 0, rangeMax: 1, counts: new Float32Array(2) }] };
  assert.throws(() => store.tensors.saveRunResults(runId, badHistogram), /NOT NULL/);
  assertNothingSaved(store, runId);

  // The same run still saves cleanly afterwards.
  store.tensors.saveRunResults(runId, { ...base, tensors: [good] });
  assert.equal(store.runs.get(runId)?.status, 'done');
  assert.equal(store.tensors.tensors(runId).length, 1);
});

test('saveRunResults refuses a run that has already ended', (t) => {
  const store = tempStore(t);
  const runId = runningRun(store);
  store.runs.finish(runId, { status: 'cancelled' });
  assert.throws(() => store.tensors.saveRunResults(runId, { tensors: [tensor('conv_1', 1)] }), StoreConflictError);
  assert.deepEqual(store.tensors.tensors(runId), []);
  assert.equal(store.runs.get(runId)?.status, 'cancelled');
});
