/**
 * The per-channel guarantee: for every estimator and every kernel layout
 * (Dense [in,out], Conv2D [kh,kw,in,out], DepthwiseConv2D through its channel
 * view, NHWC activations), a per-channel observer returns ranges and qparams
 * with one entry per channel — never a single per-tensor value — and those
 * qparams drive fakeQuant on the same tensor and axis.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Estimator, EstimatorKind, type QuantSpec } from '../../../../src-main/api/run-config.js';
import { fakeQuant } from '../../../../src-main/engine/quant/fake-quant.js';
import { createObserver } from '../../../../src-main/engine/quant/observers/index.js';
import { defaultChannelAxis, depthwiseChannelShape, perChannelSymmetricWeights } from '../../../../src-main/engine/quant/spec.js';
import { BACKENDS, setupBackends, use } from './helpers.js';

before(setupBackends);

interface Case {
  what: string;
  make: () => tf.Tensor;
  axis: number;
  channels: number;
}

const cases: Case[] = [
  { what: 'Dense kernel [16, 8]', make: () => tf.randomNormal([16, 8], 0, 1, 'float32', 1), axis: defaultChannelAxis('dense'), channels: 8 },
  { what: 'Conv2D kernel [3, 3, 4, 6]', make: () => tf.randomNormal([3, 3, 4, 6], 0, 1, 'float32', 2), axis: defaultChannelAxis('conv2d'), channels: 6 },
  {
    what: 'DepthwiseConv2D kernel [3, 3, 4, 2] (channel view [3, 3, 8])',
    make: () => tf.tidy(() => tf.reshape(tf.randomNormal([3, 3, 4, 2], 0, 1, 'float32', 3), depthwiseChannelShape([3, 3, 4, 2]))),
    axis: defaultChannelAxis('depthwiseConv2d'),
    channels: 8,
  },
  { what: 'NHWC activation [2, 5, 5, 7], axis −1', make: () => tf.randomNormal([2, 5, 5, 7], 0, 1, 'float32', 4), axis: -1, channels: 7 },
  { what: 'Dense kernel [16, 8] per input row, axis 0', make: () => tf.randomNormal([16, 8], 0, 1, 'float32', 5), axis: 0, channels: 16 },
];

const specs: QuantSpec[] = [perChannelSymmetricWeights(8), { bits: 4, symmetric: false, narrowRange: false, granularity: 'per-channel' }];

for (const backend of BACKENDS) {
  test(`${backend}: every estimator × layout × spec returns per-channel vectors of the channel count`, async () => {
    await use(backend);
    let checked = 0;
    for (const kind of EstimatorKind.options) {
      for (const c of cases) {
        for (const spec of specs) {
          const x = c.make();
          const o = createObserver(Estimator.parse({ kind, bins: 256 }), spec, { axis: c.axis, name: c.what });
          for (let p = 0; p < o.passes; p++) o.observe(x, p);
          const label = `${kind} on ${c.what} (${spec.bits}-bit ${spec.symmetric ? 'sym' : 'asym'})`;
          const resolved = c.axis < 0 ? c.axis + x.rank : c.axis;
          assert.equal(o.axis, resolved, `${label}: axis`);
          const { min, max } = o.range();
          assert.ok(c.channels > 1);
          assert.equal(min.length, c.channels, `${label}: range().min has ${min.length} entries`);
          assert.equal(max.length, c.channels, `${label}: range().max has ${max.length} entries`);
          const qp = o.qparams();
          assert.equal(qp.granularity, 'per-channel', label);
          assert.equal(qp.axis, resolved, `${label}: qparams axis`);
          for (const v of [qp.scale, qp.zeroPoint, qp.nudgedMin, qp.nudgedMax]) assert.equal(v.length, c.channels, `${label}: qparams vector of length ${v.length}`);
          // The channels really differ (random data): a broadcast single value would not.
          assert.ok(new Set(qp.scale).size > 1, `${label}: all channel scales identical`);
          const y = fakeQuant(x, qp);
          assert.deepEqual(y.shape, x.shape);
          tf.dispose([x, y]);
          checked++;
        }
      }
    }
    assert.equal(checked, 6 * cases.length * specs.length);
  });
}
