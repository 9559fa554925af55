/**
 * keras.applications architectures (test/helpers/applications, seeded
 * weights) as IR graphs for the training-step tests (no test cases here):
 * tiny widths where Keras has them (alpha), 32×32 inputs, 4 classes. Each comes with the input
 * range it expects (MobileNetV3 and EfficientNet rescale [0, 255] pixels
 * themselves), and its BatchNorm statistics are calibrated on a batch from
 * that range, so activations have a sane scale when BatchNorm is frozen.
 */
import * as tf from '@tensorflow/tfjs';
import { graphFromLayersModel } from '../../../../../src-main/engine/graph/from-layers.js';
import type { Graph } from '../../../../../src-main/engine/graph/types.js';
import { calibrateBatchNorm, denseNet121, efficientNetB0, mobileNetV2, mobileNetV3Small, resNet50, type ApplicationOptions } from '../../../../helpers/applications/index.js';
import { rng } from '../../graph/fixtures.js';

/** Samples the BatchNorm statistics are calibrated on (small feature maps need more than a step batch). */
const CALIBRATION = 32;

export interface AppGraph {
  graph: Graph;
  /** Input values uniform in this range. */
  inputRange: [number, number];
}

function build(make: (o: ApplicationOptions) => tf.LayersModel, options: ApplicationOptions, inputRange: [number, number]): AppGraph {
  const model = make({ classes: 4, seed: 1, ...options });
  try {
    const shape = model.inputs[0]!.shape.slice(1) as number[];
    const next = rng(17);
    const [lo, hi] = inputRange;
    const x = tf.tensor(Float32Array.from({ length: CALIBRATION * shape.reduce((a, b) => a * b, 1) }, () => lo + (hi - lo) * next()), [CALIBRATION, ...shape]);
    calibrateBatchNorm(model, x);
    x.dispose();
    return { graph: graphFromLayersModel(model), inputRange };
  } finally {
    model.dispose();
  }
}

export const apps: Record<string, () => AppGraph> = {
  mobileNetV2: () => build(mobileNetV2, { alpha: 0.35, inputSize: 32 }, [-1, 1]),
  mobileNetV3Small: () => build(mobileNetV3Small, { alpha: 0.75, inputSize: 32 }, [0, 255]),
  efficientNetB0: () => build(efficientNetB0, { inputSize: 32 }, [0, 255]),
  resNet50: () => build(resNet50, { inputSize: 32 }, [-1, 1]),
  denseNet121: () => build(denseNet121, { inputSize: 32 }, [-1, 1]),
};
