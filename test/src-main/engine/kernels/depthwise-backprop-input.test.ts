import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import { Worst, bound, maxAbsDiff, on, seeded, setupBackends } from './compare.js';
import { convCases, convOutShape, describe } from './cases.js';

before(setupBackends);

test('DepthwiseConv2dNativeBackpropInput on wasm matches cpu (multiplier 1..3)', async () => {
  assert.ok(tf.getKernel(tf.DepthwiseConv2dNativeBackpropInput, 'wasm'), 'kernel registered on wasm');
  const worst = new Worst();
  await fc.assert(
    fc.asyncProperty(convCases(3), async (c) => {
      const dyShape = convOutShape(c, true);
      const dX = () => {
        const x = tf.tensor4d(seeded(tf.util.sizeFromShape(c.x), c.seed), c.x);
        const w = tf.tensor4d(seeded(tf.util.sizeFromShape(c.filter), c.seed + 1), c.filter);
        const dy = tf.tensor4d(seeded(tf.util.sizeFromShape(dyShape), c.seed + 2), dyShape);
        return [tf.grad((v: tf.Tensor) => tf.depthwiseConv2d(v as tf.Tensor4D, w, c.strides, c.pad))(x, dy)];
      };
      const [ref] = await on('cpu', dX);
      const [got] = await on('wasm', dX);
      const diff = maxAbsDiff(ref!, got!);
      worst.note(diff, bound(ref!));
      assert.ok(diff <= bound(ref!), `${describe(c)}: diff ${diff} > ${bound(ref!)}`);
    }),
    { numRuns: 40, seed: 20240604 },
  );
  worst.report('DepthwiseConv2dNativeBackpropInput');
});
