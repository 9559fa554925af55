/**
 * keras.applications architectures as tfjs LayersModels, built in code from
 * the Keras layer definitions, with seeded weights: for tests and benchmarks
 * that need real-world topologies (depthwise convs, residual adds, dense
 * concatenations, squeeze-excite multiplies) without downloading weights.
 */
import type * as tf from '@tensorflow/tfjs';
import { HARD_SIGMOID, HARD_SWISH, type ApplicationOptions } from './common.js';
import { denseNet121 } from './densenet121.js';
import { efficientNetB0 } from './efficientnet.js';
import { mobileNet } from './mobilenet.js';
import { mobileNetV2 } from './mobilenet-v2.js';
import { mobileNetV3Large, mobileNetV3Small } from './mobilenet-v3.js';
import { resNet50 } from './resnet50.js';

export { HARD_SIGMOID, HARD_SWISH, KERAS3_CLASSES, missingClasses, makeDivisible, correctPad, type ApplicationOptions } from './common.js';
export { seedWeights, seedLayer, seededInput, calibrateBatchNorm } from './seeded-weights.js';
export { transferLearning, teachableMachine, type TransferLearningOptions, type TeachableMachineOptions } from './nest.js';
export { mobileNet, type MobileNetOptions } from './mobilenet.js';
export { mobileNetV2 } from './mobilenet-v2.js';
export { mobileNetV3Small, mobileNetV3Large, type MobileNetV3Options } from './mobilenet-v3.js';
export { efficientNetB0 } from './efficientnet.js';
export { resNet50 } from './resnet50.js';
export { denseNet121 } from './densenet121.js';

export interface Application {
  /** The keras.applications name. */
  name: string;
  build: (options?: ApplicationOptions) => tf.LayersModel;
  /** Whether alpha (width) applies. */
  alpha: boolean;
  /** Classes the builder needs registered beyond tfjs-layers (see missingClasses). */
  needs: readonly string[];
}

export const applications: readonly Application[] = [
  { name: 'MobileNet', build: mobileNet, alpha: true, needs: [] },
  { name: 'MobileNetV2', build: mobileNetV2, alpha: true, needs: [] },
  { name: 'MobileNetV3Small', build: mobileNetV3Small, alpha: true, needs: [HARD_SWISH, HARD_SIGMOID] },
  { name: 'MobileNetV3Large', build: mobileNetV3Large, alpha: true, needs: [HARD_SWISH, HARD_SIGMOID] },
  { name: 'EfficientNetB0', build: efficientNetB0, alpha: false, needs: ['Normalization'] },
  { name: 'ResNet50', build: resNet50, alpha: false, needs: [] },
  { name: 'DenseNet121', build: denseNet121, alpha: false, needs: [] },
];
