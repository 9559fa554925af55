import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import { Worst, bound, maxAbsDiff, on, seeded, setupBackends } from './compare.js';
import { convCases, convOutShape, describe } from './cases.js';

before(setupBackends);

test('Conv2DBackpropInput on wasm matches cpu (conv2d input gradient, conv2dTranspose)', async () => {
  const worst = new Worst();
  await fc.assert(
    fc.asyncProperty(convCases(6), async (c) => {
      const dyShape = convOutShape(c, false);
      const dX = () => {
        const x = tf.tensor4d(seeded(tf.util.sizeFromShape(c.x), c.seed), c.x);
        const w = tf.tensor4d(seeded(tf.util.sizeFromShape(c.filter), c.seed + 1), c.filter);
        const dy = tf.tensor4d(seeded(tf.util.sizeFromShape(dyShape), c.seed + 2), dyShape);
        return [tf.grad((v: tf.Tensor) => tf.conv2d(v as tf.Tensor4D, w, c.strides, c.pad))(x, dy)];
      };
      const [ref] = await on('cpu', dX);
      const [got] = await on('wasm', dX);
      const diff = maxAbsDiff(ref!, got!);
      worst.note(diff, bound(ref!));
      assert.ok(diff <= bound(ref!), `${describe(c)}: diff ${diff} > ${bound(ref!)}`);
    }),
    { numRuns: 40, seed: 20240602 },
  );
  worst.report('Conv2DBackpropInput');
});
