/**
 * FakeQuantizer: torch.ao FakeQuantize's switches (calibrate = observe only,
 * QAT = observe + fake quant, frozen = fake quant with fixed qparams, float),
 * STE gradients with no statistics in them, memory, config round trips.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Estimator, type EstimatorKind, type QuantSpec } from '../../../../src-main/api/run-config.js';
import { fakeQuant } from '../../../../src-main/engine/quant/fake-quant.js';
import { FakeQuantizer } from '../../../../src-main/engine/quant/fake-quantizer.js';
import { createObserver } from '../../../../src-main/engine/quant/observers/index.js';
import { qparamsEquals } from '../../../../src-main/engine/quant/qparams.js';
import { BACKENDS, gaussian, setupBackends, use } from './helpers.js';

before(setupBackends);

const est = (kind: EstimatorKind) => Estimator.parse({ kind, bins: 256 });
const act: QuantSpec = { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-tensor' };
const wpc: QuantSpec = { bits: 4, symmetric: true, narrowRange: true, granularity: 'per-channel' };

for (const backend of BACKENDS) {
  test(`${backend}: calibrate mode observes and returns the input itself`, async () => {
    await use(backend);
    const fq = new FakeQuantizer(createObserver(est('minmax'), act)).setMode('calibrate');
    const x = tf.tensor([-1, 0.3, 2]);
    assert.equal(fq.apply(x), x);
    assert.equal(fq.observer.batches, 1);
    assert.deepEqual([fq.qparams().nudgedMin[0]! <= -1, fq.qparams().nudgedMax[0]! >= 2 - 1e-6], [true, true]);
    x.dispose();
  });

  test(`${backend}: QAT mode observes the batch first, then fake-quantizes it with the fresh qparams (per-channel)`, async () => {
    await use(backend);
    const fq = new FakeQuantizer(createObserver(est('lastvalue'), wpc, { axis: -1 }), { rounding: 'half-even' });
    const x = tf.tensor2d(gaussian(12, 3), [4, 3]);
    const y = fq.apply(x);
    assert.equal(fq.observer.batches, 1);
    const qp = fq.qparams();
    assert.equal(qp.scale.length, 3);
    assert.equal(qp.axis, 1);
    const want = fakeQuant(x, qp, { rounding: 'half-even' });
    assert.deepEqual(y.dataSync(), want.dataSync());
    tf.dispose([x, y, want]);
  });

  test(`${backend}: QAT gradient is the STE mask only — observed statistics do not enter it`, async () => {
    await use(backend);
    for (const kind of ['lastvalue', 'minmax', 'movingaverage', 'percentile'] as EstimatorKind[]) {
      const fq = new FakeQuantizer(createObserver(est(kind), act));
      const x = tf.tensor([-2, -1, 0, 0.5, 1, 3]);
      const dy = tf.tensor([1, 2, 3, 4, 5, 6]);
      // lastvalue / minmax see exactly this batch, so every x is inside the range: dx = dy.
      // If min/max were differentiable through the observation, the end points would get extra terms.
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(fq.apply(t), dy)))(x);
      const got = Array.from(g.dataSync());
      if (kind === 'percentile') {
        // Clipped ends (percentile 99.99 of 6 values interpolates inside the edge bins) get 0, the rest dy.
        assert.deepEqual(got.slice(1, 5), [2, 3, 4, 5]);
        assert.ok(got.every((v, i) => v === 0 || v === i + 1));
      } else {
        assert.deepEqual(got, [1, 2, 3, 4, 5, 6], kind);
      }
      assert.equal(fq.observer.batches, 1, `${kind}: observed once inside the gradient computation`);
      tf.dispose([x, dy, g]);
    }
  });

  test(`${backend}: frozen mode keeps the qparams (clips new outliers, gradient 0 there); float mode is identity`, async () => {
    await use(backend);
    const fq = new FakeQuantizer(createObserver(est('minmax'), act));
    const a = tf.tensor([-1, 1]);
    fq.apply(a).dispose();
    const before = fq.qparams();
    fq.setMode('frozen');
    assert.deepEqual([fq.observerEnabled, fq.fakeQuantEnabled], [false, true]);
    const b = tf.tensor([-5, 0, 5]);
    const y = fq.apply(b);
    assert.equal(fq.observer.batches, 1);
    assert.ok(qparamsEquals(before, fq.qparams()));
    // Clipped to the ends of the grid: q = 0 → nudged_min, q = 255 → f32(255·s) + nudged_min, which is
    // nudged_max up to one float32 ulp (TF's kernel computes it the same way).
    const s = before.scale[0]!;
    const nmin = before.nudgedMin[0]!;
    assert.deepEqual(Array.from(y.dataSync()), [nmin, 0, Math.fround(Math.fround(255 * s) + nmin)]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(fq.apply(t)))(b);
    assert.deepEqual(Array.from(g.dataSync()), [0, 1, 0]);
    fq.setMode('float');
    assert.equal(fq.apply(b), b);
    assert.equal(fq.observer.batches, 1);
    tf.dispose([a, b, y, g]);
  });

  test(`${backend}: 50 QAT steps through a FakeQuantizer leave the tensor count flat`, async () => {
    await use(backend);
    for (const kind of ['movingaverage', 'entropy'] as EstimatorKind[]) {
      const fq = new FakeQuantizer(createObserver(est(kind), { ...wpc, axis: 3 }));
      const w = tf.variable(tf.randomNormal([3, 3, 2, 4], 0, 1, 'float32', 8));
      const opt = tf.train.sgd(0.01);
      const step = () => opt.minimize(() => tf.sum(tf.square(fq.apply(w))) as tf.Scalar);
      step();
      const n = tf.memory().numTensors;
      for (let i = 0; i < 50; i++) step();
      assert.equal(tf.memory().numTensors, n, `${kind}: tensors grew`);
      assert.equal(fq.observer.batches, 51);
      opt.dispose();
      w.dispose();
    }
  });
}

test('toConfig / fromConfig / equals round trip, including switches, rounding and observer state', () => {
  const fq = new FakeQuantizer(createObserver(est('mse'), wpc, { axis: 1, name: 'dense/kernel' }), { rounding: 'half-away' });
  const x = tf.tensor2d(gaussian(64, 1), [16, 4]);
  fq.apply(x).dispose();
  fq.observerEnabled = false;
  const json = JSON.parse(JSON.stringify(fq.toConfig()));
  const back = FakeQuantizer.fromConfig(json);
  assert.ok(fq.equals(back));
  assert.equal(back.rounding, 'half-away');
  assert.equal(back.observerEnabled, false);
  assert.ok(qparamsEquals(fq.qparams(), back.qparams()));
  const y1 = fq.apply(x);
  const y2 = back.apply(x);
  assert.deepEqual(y1.dataSync(), y2.dataSync());
  back.fakeQuantEnabled = false;
  assert.ok(!fq.equals(back));
  const other = new FakeQuantizer(createObserver(est('mse'), wpc, { axis: 1, name: 'dense/kernel' }), { rounding: 'half-away' });
  other.observerEnabled = false;
  assert.ok(!fq.equals(other), 'unobserved state differs');
  assert.throws(() => new FakeQuantizer(createObserver(est('minmax'), act), { rounding: 'nearest' as never }), /unknown rounding/);
  tf.dispose([x, y1, y2]);
});
