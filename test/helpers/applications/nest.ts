/**
 * Application models nested the way people ship them, for the nested-model
 * paths of the engine and the importers.
 *
 * transferLearning: the Keras transfer-learning guide's Sequential, a base
 * built with includeTop false, global average pooling, a softmax Dense.
 *
 * teachableMachine: the shape of a Teachable Machine image model.json, as
 * @teachablemachine/image builds it (libraries/image/src/custom-mobilenet.ts
 * and teachable-mobilenet.ts): a MobileNet truncated at a training layer as a
 * functional 'model1', pooled (global average pooling after MobileNetV2's
 * 'out_relu', Flatten after v1's 'conv_pw_13_relu') in 'sequential_1', then a
 * 'sequential_3' head Dense(100, relu) + Dense(classes, softmax, no bias),
 * both in an outer 'sequential_4'. Layer names are the tfjs automatic names a
 * fresh Teachable Machine page gives them ('dense_Dense1', ...).
 */
import * as tf from '@tensorflow/tfjs';
import { seedLayer } from './seeded-weights.js';

function outputShape(model: tf.LayersModel): number[] {
  return model.outputs[0]!.shape.slice(1) as number[];
}

export interface TransferLearningOptions {
  /** Seed of the new head's weights. Default 0. */
  seed?: number;
  /** Default 'sequential' (the Keras automatic name). */
  name?: string;
}

/** Sequential([base, GlobalAveragePooling2D (when base is not pooled yet), Dense(classes, softmax)]). */
export function transferLearning(base: tf.LayersModel, classes: number, options: TransferLearningOptions = {}): tf.Sequential {
  const layers: tf.layers.Layer[] = [base];
  if (outputShape(base).length === 3) layers.push(tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }));
  const dense = tf.layers.dense({ units: classes, activation: 'softmax', name: 'dense' });
  layers.push(dense);
  const model = tf.sequential({ layers, name: options.name ?? 'sequential' });
  seedLayer(dense, options.seed ?? 0);
  return model;
}

export interface TeachableMachineOptions {
  /** Where the base is cut; default 'out_relu' (MobileNetV2) or 'conv_pw_13_relu' (MobileNet v1), else its last layer. */
  trainingLayer?: string;
  /** Default: Flatten after 'conv_pw_13_relu' (Teachable Machine's v1 path), global average pooling otherwise. */
  pooling?: 'avg' | 'flatten';
  /** Units of the hidden Dense. Default 100, Teachable Machine's denseUnits. */
  denseUnits?: number;
  /** Seed of the head's weights. Default 0. */
  seed?: number;
}

function defaultTrainingLayer(base: tf.LayersModel): string {
  for (const name of ['out_relu', 'conv_pw_13_relu']) {
    if (base.layers.some((l) => l.name === name)) return name;
  }
  return base.layers[base.layers.length - 1]!.name;
}

/** Sequential 'sequential_4' [Sequential 'sequential_1' [model1, pooling], Sequential 'sequential_3' [dense_Dense1, dense_Dense2]]. */
export function teachableMachine(base: tf.LayersModel, classes: number, options: TeachableMachineOptions = {}): tf.Sequential {
  const trainingLayer = options.trainingLayer ?? defaultTrainingLayer(base);
  const truncated = tf.model({ inputs: base.inputs, outputs: base.getLayer(trainingLayer).output as tf.SymbolicTensor, name: 'model1' });
  const pooling = options.pooling ?? (trainingLayer === 'conv_pw_13_relu' ? 'flatten' : 'avg');
  const poolLayer =
    pooling === 'flatten'
      ? tf.layers.flatten({ name: 'flatten_Flatten1' })
      : tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d_GlobalAveragePooling2D1' });
  const features = tf.sequential({ layers: [truncated, poolLayer], name: 'sequential_1' });

  const featureSize = outputShape(features).reduce((a, b) => a * b, 1);
  const hidden = tf.layers.dense({ inputShape: [featureSize], units: options.denseUnits ?? 100, activation: 'relu', useBias: true, name: 'dense_Dense1' });
  const out = tf.layers.dense({ units: classes, activation: 'softmax', useBias: false, name: 'dense_Dense2' });
  const head = tf.sequential({ layers: [hidden, out], name: 'sequential_3' });
  seedLayer(hidden, options.seed ?? 0);
  seedLayer(out, options.seed ?? 0);

  return tf.sequential({ layers: [features, head], name: 'sequential_4' });
}
