/**
 * The ONNX training step on small hand-made DAGs against TF.js autodiff
 * (step-reference.ts): residual Add (a value read by two nodes gets the sum
 * of their gradients), a squeeze-and-excite block with Multiply (a
 * [1,1,C] gate and a lower-rank [C] gate, broadcast), chained Concatenates
 * (inputs and outputs on one shared range in QAT), ZeroPadding2D before a
 * strided 'valid' depthwise convolution with depth multiplier 2 and a
 * strided 'same' one, Dropout 0.5 on a feature map and on a vector with a
 * fixed keep-mask, drop-connect (noise shape [null,1,1,1]) and a batch-shared
 * noise shape, AveragePooling2D, GlobalMaxPooling2D, Cropping2D,
 * UpSampling2D, Rescaling / Normalization (affine), Reshape to rank 2 with a
 * Dense on it, a Dense on a feature map's channels, softmax inside the model, and the activations relu6 /
 * sigmoid / tanh / swish / hard_swish / hard_sigmoid (Keras 3 and Keras 2) /
 * leaky_relu as layers and fused. Each graph: float, QAT per-channel 8-bit
 * with BatchNorm batch statistics, QAT per-tensor 4-bit (all-values ranges),
 * QAT after the BatchNorm freeze; and the optimizer update against tf.train's.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { initBackend } from '../../../../../src-main/engine/backend.js';
import type { Graph } from '../../../../../src-main/engine/graph/types.js';
import { concatenated, paddedDepthwise, reshaped, residual, squeezeExcite } from './dag-graphs.js';
import { compareStep, type StepCase } from './step-reference.js';

// The wasm backend, the studio's own. (Not the cpu backend: its ResizeNearestNeighborGrad reads dy
// rows of the wrong sample for batches of more than one, so it cannot judge UpSampling2D.)
before(async () => {
  await initBackend('wasm');
});

const graphs: [string, () => Graph][] = [
  ['residual Add', residual],
  ['squeeze-and-excite Multiply', squeezeExcite],
  ['chained Concatenate', concatenated],
  ['ZeroPadding2D + strided depthwise, Dropout 0.5', paddedDepthwise],
  ['affine, up-sampling, cropping, reshape, Dense on rank 3', reshaped],
];

const cases: [string, Omit<StepCase, 'graph'>][] = [
  ['float', { quantized: false, freeze: false, optimizer: { kind: 'sgd' } }],
  ['QAT per-channel 8-bit, BatchNorm batch statistics', { quantized: true, freeze: false, optimizer: { kind: 'adam' } }],
  [
    'QAT per-tensor 4-bit, all-values ranges',
    { quantized: true, freeze: false, extra: { weights: { bits: 4, symmetric: true, narrowRange: true, granularity: 'per-tensor' }, activations: { bits: 4, symmetric: false, narrowRange: false, granularity: 'per-tensor' }, estimator: { kind: 'minmax' } } },
  ],
  ['QAT after the BatchNorm freeze', { quantized: true, freeze: true, optimizer: { kind: 'momentum', momentum: 0.9 } }],
];

describe('ONNX training step on DAGs against TF.js autodiff', () => {
  for (const [what, build] of graphs) {
    for (const [how, c] of cases) {
      test(`${what}: ${how}`, async (t) => {
        const report = await compareStep({ graph: build(), ...c });
        t.diagnostic(`worst gradient difference ${report.worstGradient.toExponential(1)} of its scale; worst forward difference ${report.worstForward.toExponential(1)}`);
        const g = report.step;
        if (what.startsWith('chained') && c.quantized) {
          assert.ok(g.activationRanges.some((a) => a.uses > 1), 'a shared Concatenate range is updated at several hook points');
        }
        if (what.includes('Dropout')) {
          assert.deepEqual(
            g.dropouts.map((d) => [d.node, d.shape, d.shared]),
            [['drop_map', [2, 2, 8], false], ['drop_connect', [1, 1, 1], false], ['drop_shared', [2, 2, 1], true], ['drop_vec', [24], false]],
          );
        }
      });
    }
  }

  test('per-channel activation ranges on a DAG (residual Add, squeeze-and-excite)', async () => {
    const extra = { activations: { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-channel' as const } };
    await compareStep({ graph: residual(), quantized: true, freeze: false, extra });
    await compareStep({ graph: squeezeExcite(), quantized: true, freeze: false, extra });
  });
});
