import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import { Worst, maxAbsDiff, on, setupBackends } from './compare.js';

before(setupBackends);

const cases = fc.record({
  indices: fc.array(fc.integer({ min: -1, max: 6 }), { minLength: 1, maxLength: 12 }), // -1 and >= depth give all-off rows
  depth: fc.integer({ min: 2, max: 6 }),
  onValue: fc.constantFrom(1, 0.9, -2.5),
  offValue: fc.constantFrom(0, 0.1 / 9, 3),
  dtype: fc.constantFrom('float32' as const, 'int32' as const),
});

test('OneHot on wasm equals cpu exactly, including float32 labels and smoothed on/off values', async () => {
  const worst = new Worst();
  await fc.assert(
    fc.asyncProperty(cases, async ({ indices, depth, onValue, offValue, dtype }) => {
      // int32 one-hots take integral on/off values only.
      const [onV, offV] = dtype === 'int32' ? [Math.trunc(onValue), Math.trunc(offValue)] : [onValue, offValue];
      const hot = () => {
        const out = tf.oneHot(tf.tensor1d(indices, 'int32'), depth, onV, offV, dtype);
        assert.equal(out.dtype, dtype);
        return [tf.cast(out, 'float32')];
      };
      const [ref] = await on('cpu', hot);
      const [got] = await on('wasm', hot);
      const diff = maxAbsDiff(ref!, got!);
      worst.note(diff, 1);
      assert.equal(diff, 0, `indices ${indices} depth ${depth} on ${onV} off ${offV} ${dtype}`);
    }),
    { numRuns: 40, seed: 20240608 },
  );
  worst.report('OneHot', true);
});

test('float32 OneHot on wasm frees the int32 mask it builds from', async () => {
  const [ref] = await on('cpu', () => [tf.oneHot(tf.tensor1d([2, 0], 'int32'), 3, 1, 0, 'float32')]);
  await tf.setBackend('wasm');
  const buffersBefore = tf.engine().backend.numDataIds();
  let got: Float32Array = new Float32Array(0);
  for (let i = 0; i < 20; i++) got = tf.tidy(() => Float32Array.from(tf.oneHot(tf.tensor1d([2, 0], 'int32'), 3, 1, 0, 'float32').dataSync()));
  assert.equal(tf.engine().backend.numDataIds(), buffersBefore);
  assert.deepEqual(Array.from(got), Array.from(ref!));
});
