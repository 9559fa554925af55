/**
 * TF's fake quant in plain JS (quant/fake-quant-values.ts) against the
 * TF.js op (quant/fake-quant.ts) on the wasm backend runs use, bit for bit,
 * on the real kernels of the bundled Fashion-MNIST CNN and of the
 * depthwise-separable built-in: per tensor and per channel, 8 and 4 bits,
 * symmetric narrow (the weight scheme) and asymmetric; plus values placed on
 * exact rounding ties and outside the range, where a rounding difference
 * would show first.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { QuantSpec } from '../../../../src-main/api/run-config.js';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { isWeighted, type Graph } from '../../../../src-main/engine/graph/types.js';
import { fakeQuant } from '../../../../src-main/engine/quant/fake-quant.js';
import { fakeQuantValues, valuesMinMax } from '../../../../src-main/engine/quant/fake-quant-values.js';
import { computeQParams } from '../../../../src-main/engine/quant/qparams.js';
import { foldBatchNorm } from '../../../../src-main/engine/transform/fold-batchnorm.js';
import { planQuantization } from '../../../../src-main/engine/transform/plan.js';
import { builtinModel } from '../../../../src-main/io/models/builtins.js';
import { readTfjsLayersModel } from '../../../../src-main/io/models/tfjs-layers.js';
import { config, ROOT } from '../ptq/ptq-fixtures.js';

before(async () => {
  await initBackend('wasm');
});

const SPECS: Record<string, (granularity: 'per-tensor' | 'per-channel') => Omit<QuantSpec, 'axis'>> = {
  w8: (granularity) => ({ bits: 8, symmetric: true, narrowRange: true, granularity }),
  w4: (granularity) => ({ bits: 4, symmetric: true, narrowRange: true, granularity }),
  a8: (granularity) => ({ bits: 8, symmetric: false, narrowRange: false, granularity }),
};

/** Index of the first differing bit pattern, or -1. */
function firstBitDifference(a: Float32Array, b: Float32Array): number {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return ua.length === ub.length ? -1 : ua.length;
}

function checkBits(values: Float32Array, view: number[], axis: number | null, spec: QuantSpec, what: string): void {
  const r = valuesMinMax(values, view, axis);
  const qp = computeQParams(r.min, r.max, spec, axis !== null ? { axis } : {});
  const js = fakeQuantValues(values, view, qp, axis ?? undefined);
  const ref = tf.tidy(() => fakeQuant(tf.tensor(values, view), qp, axis !== null ? { axis } : {}).dataSync() as Float32Array);
  const at = firstBitDifference(js, Float32Array.from(ref));
  assert.equal(at, -1, `${what}: value ${at} (${values[at]}) is ${js[at]} in JS, ${ref[at]} on TF.js`);
}

async function realKernels(): Promise<{ model: string; graph: Graph }[]> {
  const cnn = await readTfjsLayersModel(path.join(ROOT, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json'));
  return [
    { model: 'fashion_cnn', graph: foldBatchNorm(cnn).graph },
    { model: 'fashion_dwsep', graph: foldBatchNorm(builtinModel('fashion_dwsep').build()).graph },
  ];
}

test('plain-JS fake quant equals the TF.js op bit for bit on real kernels (per tensor and per channel, 8 and 4 bits)', async () => {
  let checked = 0;
  for (const { model, graph } of await realKernels()) {
    const plan = planQuantization(graph, config({ weights: { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' } }));
    for (const wq of plan.weights) {
      const node = graph.nodes.find((n) => n.name === wq.layer)!;
      if (!isWeighted(node)) continue;
      const k = node.weights.kernel.values;
      for (const [name, make] of Object.entries(SPECS)) {
        checkBits(k, wq.view, wq.axis, { ...make('per-channel'), axis: wq.axis! }, `${model} ${wq.name} ${name} per-channel`);
        checkBits(k, wq.view, null, make('per-tensor') as QuantSpec, `${model} ${wq.name} ${name} per-tensor`);
        checked += k.length * 2;
      }
    }
  }
  console.log(`fake quant JS vs TF.js: ${checked} kernel values compared, all bits equal`);
  assert.ok(checked > 1_000_000, `real kernels compared (${checked} values)`);
});

test('rounding ties, values outside the range and a degenerate channel round as the TF.js op rounds them', () => {
  const spec: QuantSpec = { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-channel', axis: 1 };
  // Channel 0 spans [-1, 1]; channel 1 is all zeros (EPS range); channel 2 spans [0, 2.55].
  const rows = 64;
  const x = new Float32Array(rows * 3);
  const scale0 = 2 / 255;
  for (let i = 0; i < rows; i++) {
    x[i * 3] = i === 0 ? -1 : i === 1 ? 1 : Math.fround(-1 + (i + 0.5) * scale0); // half-way points
    x[i * 3 + 1] = 0;
    x[i * 3 + 2] = Math.fround((i - 2) * 0.05 + 0.005); // runs below 0 and past the top: clamped
  }
  const qp = computeQParams([-1, 0, 0], [1, 0, 2.55], spec, { axis: 1 });
  const js = fakeQuantValues(x, [rows, 3], qp, 1);
  const ref = Float32Array.from(tf.tidy(() => fakeQuant(tf.tensor(x, [rows, 3]), qp, { axis: 1 }).dataSync() as Float32Array));
  const at = firstBitDifference(js, ref);
  assert.equal(at, -1, `value ${at} (${x[at]}): JS ${js[at]}, TF.js ${ref[at]}`);
  assert.throws(() => fakeQuantValues(x, [rows, 3], qp), /per-channel qparams need a channel axis/);
  assert.throws(() => fakeQuantValues(x, [3, rows], qp, 1), /3 channel qparams for 64 channels/);
});
