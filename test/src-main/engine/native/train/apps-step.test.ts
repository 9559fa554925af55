/**
 * Training steps of keras.applications architectures (seeded, tiny:
 * app-graphs.ts) on onnxruntime against TF.js autodiff of the same forward
 * (step-reference.ts, in lockstep): MobileNetV2 (depthwise with
 * ZeroPadding2D + stride 2 'valid', ReLU6, residual Add), MobileNetV3Small
 * (Rescaling, hard_swish, squeeze-and-excite with a keepdims pool, Keras 3
 * hard_sigmoid and Multiply, Dropout 0.2), EfficientNetB0 (Rescaling +
 * Normalization, swish, 5×5 depthwise, Reshape + sigmoid squeeze-and-excite,
 * drop-connect: Dropout with noise shape [null,1,1,1]), ResNet50 (7×7 stem,
 * max-pool after padding, bottleneck Adds), DenseNet121 (Concatenate chains
 * sharing one range, average pooling).
 *
 * QAT with per-channel 8-bit kernels and BatchNorm batch statistics for each
 * (Adam's update against tf.train's on MobileNetV2); float training (SGD's
 * update on MobileNetV2) and the BatchNorm freeze for MobileNetV2 / V3 and
 * EfficientNetB0; per-tensor 4-bit on MobileNetV2. On the wasm backend, the
 * studio's own. A ZeroPadding2D before a 'valid' convolution is that
 * convolution's own pads in the step graph (checked first), so these
 * gradients are the absorbed form's.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { initBackend } from '../../../../../src-main/engine/backend.js';
import { buildStepGraph } from '../../../../../src-main/engine/native/train/step-graph.js';
import { decodeModel } from '../../../../../src-main/engine/onnx/proto.js';
import { activationEstimator } from '../../../../../src-main/engine/qat/run.js';
import { foldBatchNorm } from '../../../../../src-main/engine/transform/fold-batchnorm.js';
import { planQuantization } from '../../../../../src-main/engine/transform/plan.js';
import { config } from '../../transform/graphs.js';
import { apps, type AppGraph } from './app-graphs.js';
import { compareStep, type StepCase } from './step-reference.js';

before(async () => {
  await initBackend('wasm');
});

const perTensor4 = {
  weights: { bits: 4, symmetric: true, narrowRange: true, granularity: 'per-tensor' as const },
  activations: { bits: 4, symmetric: false, narrowRange: false, granularity: 'per-tensor' as const },
};

interface AppCase {
  what: string;
  app: () => AppGraph;
  step: Omit<StepCase, 'graph' | 'inputRange'>;
}

/** Builds each application once for all its cases. */
function once(make: () => AppGraph): () => AppGraph {
  let built: AppGraph | null = null;
  return () => (built ??= make());
}
const mobileNetV2 = once(apps['mobileNetV2']!);
const mobileNetV3Small = once(apps['mobileNetV3Small']!);
const efficientNetB0 = once(apps['efficientNetB0']!);

const qat = { quantized: true, freeze: false, batch: 8 };
const frozen = { ...qat, freeze: true };
const float = { quantized: false, freeze: false, batch: 8 };
const cases: AppCase[] = [
  { what: 'MobileNetV2: float, SGD', app: mobileNetV2, step: { ...float, optimizer: { kind: 'sgd' } } },
  { what: 'MobileNetV2: QAT per-channel 8-bit, Adam', app: mobileNetV2, step: { ...qat, optimizer: { kind: 'adam' } } },
  { what: 'MobileNetV2: QAT per-tensor 4-bit', app: mobileNetV2, step: { ...qat, extra: perTensor4 } },
  { what: 'MobileNetV2: QAT after the BatchNorm freeze', app: mobileNetV2, step: frozen },
  { what: 'MobileNetV3Small: float', app: mobileNetV3Small, step: float },
  { what: 'MobileNetV3Small: QAT per-channel 8-bit', app: mobileNetV3Small, step: qat },
  { what: 'MobileNetV3Small: QAT after the BatchNorm freeze', app: mobileNetV3Small, step: frozen },
  { what: 'EfficientNetB0: float', app: efficientNetB0, step: float },
  { what: 'EfficientNetB0: QAT per-channel 8-bit', app: efficientNetB0, step: qat },
  { what: 'EfficientNetB0: QAT after the BatchNorm freeze', app: efficientNetB0, step: frozen },
  { what: 'ResNet50: QAT per-channel 8-bit', app: apps['resNet50']!, step: qat },
  { what: 'DenseNet121: QAT per-channel 8-bit', app: apps['denseNet121']!, step: qat },
];

describe('ZeroPadding2D before a valid convolution in the training step', () => {
  test('becomes the convolution’s own pads (no Pad, no Slice gradient): MobileNetV2’s stride-2 depthwise and ResNet50’s stem; the gradients above are checked with it', () => {
    for (const make of [mobileNetV2, apps['resNet50']!]) {
      const { graph } = make();
      const cfg = config();
      const { graph: foldedGraph, folded } = foldBatchNorm(graph);
      const step = buildStepGraph({ graph, plan: planQuantization(foldedGraph, cfg), folded, activationEstimator: activationEstimator(cfg.estimator), freezeBatchNorm: false, optimizer: null });
      const pads = graph.nodes.filter((n) => n.op === 'zeroPad2d' && graph.nodes.some((r) => r.inputs.includes(n.name) && (r.op === 'conv2d' || r.op === 'depthwiseConv2d'))).map((n) => n.name);
      assert.ok(pads.length > 0, `${graph.name} has ZeroPadding2D layers before convolutions`);
      const left = decodeModel(step.bytes).graph!.node.filter((n) => pads.some((p) => n.name.startsWith(`${p}/`)));
      assert.deepEqual(left.map((n) => n.name), [], `${graph.name}: no node left for ${pads.join(', ')}`);
    }
  });
});

describe('ONNX training step of keras.applications models against TF.js autodiff', () => {
  for (const c of cases) {
    test(c.what, async (t) => {
      const { graph, inputRange } = c.app();
      const report = await compareStep({ graph, inputRange, ...c.step });
      t.diagnostic(`worst gradient difference ${report.worstGradient.toExponential(1)} of its scale; worst forward difference ${report.worstForward.toExponential(1)}`);
      if (c.what.startsWith('EfficientNet')) assert.ok(report.step.dropouts.some((d) => d.shape.join(',') === '1,1,1' && !d.shared), 'drop-connect: one keep/drop per sample');
    });
  }
});
