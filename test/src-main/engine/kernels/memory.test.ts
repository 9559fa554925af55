import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { maxAbsDiff, bound, on, setupBackends } from './compare.js';
import { cnnLoss, makeBatch, makeParams } from './small-cnn.js';

before(setupBackends);

const STEPS = 20;

/** SGD on the small CNN; returns the final parameters plus memory readings taken after each step. */
function train(readings: { tensors: number; buffers: number }[]): tf.Tensor[] {
  const initial = makeParams();
  const names = Object.keys(initial);
  const vars = names.map((n) => tf.variable(initial[n]!, true));
  tf.dispose(Object.values(initial));
  const { x, labels } = makeBatch();
  const optimizer = tf.train.sgd(0.05);
  for (let step = 0; step < STEPS; step++) {
    optimizer.minimize(() => cnnLoss(Object.fromEntries(names.map((n, i) => [n, vars[i]!])), x, labels));
    // numDataIds sees raw backend buffers a kernel might leak without any Tensor pointing at them.
    readings.push({ tensors: tf.memory().numTensors, buffers: tf.engine().backend.numDataIds() });
  }
  const final = vars.map((v) => tf.clone(v));
  optimizer.dispose();
  tf.dispose([x, labels, ...vars]);
  return final;
}

test(`${STEPS} training steps on wasm leave tensor and buffer counts flat, and land where cpu does`, async () => {
  const wasmReadings: { tensors: number; buffers: number }[] = [];
  const before = tf.memory().numTensors;
  const got = await on('wasm', () => train(wasmReadings));
  const first = wasmReadings[0]!, last = wasmReadings[STEPS - 1]!;
  console.log(`memory over ${STEPS} wasm steps: tensors ${first.tensors} -> ${last.tensors}, wasm buffers ${first.buffers} -> ${last.buffers}; after cleanup ${tf.memory().numTensors - before} extra tensors`);
  assert.equal(last.tensors, first.tensors, 'tracked tensors grew');
  assert.equal(last.buffers, first.buffers, 'wasm buffers grew');
  assert.equal(tf.memory().numTensors, before, 'tensors left behind after training');

  // Reference: the same 20 steps on cpu end at the same weights.
  const ref = await on('cpu', () => train([]));
  const worst = Math.max(...ref.map((r, i) => maxAbsDiff(r, got[i]!) / bound(r)));
  console.log(`weights after ${STEPS} steps: worst |wasm - cpu| is ${(worst * 100).toFixed(2)}% of its bound (1e-4 * max|w| + 1e-5)`);
  assert.ok(worst <= 1, 'wasm and cpu training diverged');
});
