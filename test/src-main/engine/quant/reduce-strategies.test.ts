/**
 * The wasm 'pool' strategy of channelMinMax against the plain JS loop
 * (minMaxJs): identical minima and maxima (both exact), per tensor and per
 * channel, and every NaN / ±Inf flagged wherever it sits — the per-tensor
 * recipe relies on wasm's Min kernel propagating NaN instead of a separate sum.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { channelMinMax, minMaxJs } from '../../../../src-main/engine/quant/observers/reduce.js';
import { finiteChannelMinMax, finiteMinMaxJs } from '../../../../src-main/engine/quant/observers/common.js';
import { gaussian, setupBackends, use } from './helpers.js';

before(setupBackends);

const SHAPES: number[][] = [[1], [7], [3, 5], [4, 6, 6, 8], [2, 14, 14, 64], [3, 100]];

test('wasm pool strategy: same min/max as the JS loop, per tensor and per channel', async () => {
  await use('wasm');
  SHAPES.forEach((shape, k) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = gaussian(n, 11 + k, 3);
    const x = tf.tensor(data, shape);
    for (const axis of [undefined, shape.length - 1, 0]) {
      const pool = channelMinMax(x, axis, 'pool')!;
      const js = minMaxJs(data, shape, axis);
      assert.deepEqual(Array.from(pool.min), Array.from(js.min), `min ${shape} axis ${axis}`);
      assert.deepEqual(Array.from(pool.max), Array.from(js.max), `max ${shape} axis ${axis}`);
      assert.equal(pool.nonFinite, false);
    }
    x.dispose();
  });
});

test('wasm pool strategy: a NaN or ±Inf anywhere is flagged, and the finite range is still exact', async () => {
  await use('wasm');
  const shape = [2, 9, 9, 16];
  const n = 2 * 9 * 9 * 16;
  for (const bad of [NaN, Infinity, -Infinity]) {
    for (const at of [0, 1, 17, Math.floor(n / 2), n - 2, n - 1]) {
      const data = gaussian(n, at + 3);
      data[at] = bad;
      const x = tf.tensor(data, shape);
      for (const axis of [undefined, 3]) {
        const r = channelMinMax(x, axis, 'pool')!;
        assert.equal(r.nonFinite, true, `${bad} at ${at}, axis ${axis}`);
        const finite = finiteChannelMinMax(x, axis)!;
        const ref = finiteMinMaxJs(data, shape, axis);
        assert.deepEqual(Array.from(finite.min), Array.from(ref.min));
        assert.deepEqual(Array.from(finite.max), Array.from(ref.max));
      }
      x.dispose();
    }
  }
});
