/**
 * Built-in models. Each is built with tfjs-layers, with Keras-style layer
 * names given explicitly (tfjs's own automatic names depend on how many layers
 * were created before, so they would differ between runs) and seeded
 * initializers, so every build gives the same weights. Biases and BN
 * parameters start at the Keras defaults (zeros / ones).
 */
import * as tf from '@tensorflow/tfjs';
import { graphFromLayersModel } from '../../engine/graph/from-layers.js';
import type { Graph } from '../../engine/graph/types.js';
import { describeArchitecture } from '../../engine/graph/describe.js';
import { summarizeGraph } from '../../engine/graph/summary.js';

export interface BuiltinModelEntry {
  name: string;
  /** What the model is for; the catalog adds its architecture, derived from the built graph (builtinDescription). */
  purpose: string;
  /** The model as a Graph with its deterministic initial weights. */
  build(): Graph;
  /** The same model as a tfjs-layers model (the caller disposes it). */
  buildLayersModel(): tf.LayersModel;
  /** Input shape without the batch axis. */
  inputShape: number[];
  numClasses: number;
}

/** Keras's naming scheme: dense, dense_1, dense_2… per base name. */
function kerasNamer(): (base: string) => string {
  const counts = new Map<string, number>();
  return (base) => {
    const n = counts.get(base) ?? 0;
    counts.set(base, n + 1);
    return n === 0 ? base : `${base}_${n}`;
  };
}

/** Seeded glorot-uniform initializers, a distinct seed for each layer. */
function seeder(base: number): () => ReturnType<typeof tf.initializers.glorotUniform> {
  let next = base;
  return () => tf.initializers.glorotUniform({ seed: next++ });
}

export function denseMnistLayers(): tf.LayersModel {
  const name = kerasNamer();
  const init = seeder(784_256);
  return tf.sequential({
    name: 'dense_784_256_128_10',
    layers: [
      tf.layers.dense({ name: name('dense'), inputShape: [784], units: 256, activation: 'relu', kernelInitializer: init() }),
      tf.layers.dense({ name: name('dense'), units: 128, activation: 'relu', kernelInitializer: init() }),
      tf.layers.dense({ name: name('dense'), units: 10, activation: 'softmax', kernelInitializer: init() }),
    ],
  });
}

export function convBnReluDenseLayers(): tf.LayersModel {
  const name = kerasNamer();
  const init = seeder(32_323);
  return tf.sequential({
    name: 'conv_bn_relu_dense',
    layers: [
      tf.layers.conv2d({ name: name('conv2d'), inputShape: [32, 32, 3], filters: 32, kernelSize: 3, padding: 'same', kernelInitializer: init() }),
      tf.layers.batchNormalization({ name: name('batch_normalization') }),
      tf.layers.activation({ name: name('activation'), activation: 'relu' }),
      tf.layers.flatten({ name: name('flatten') }),
      tf.layers.dense({ name: name('dense'), units: 10, activation: 'softmax', kernelInitializer: init() }),
    ],
  });
}

export function fashionCnnLayers(): tf.LayersModel {
  const name = kerasNamer();
  const init = seeder(28_281);
  const convBlock = (filters: number, first: boolean): tf.layers.Layer[] => [
    tf.layers.conv2d({
      name: name('conv2d'),
      ...(first ? { inputShape: [28, 28, 1] } : {}),
      filters,
      kernelSize: 3,
      padding: 'same',
      kernelInitializer: init(),
    }),
    tf.layers.batchNormalization({ name: name('batch_normalization') }),
    tf.layers.activation({ name: name('activation'), activation: 'relu' }),
    tf.layers.maxPooling2d({ name: name('max_pooling2d'), poolSize: 2 }),
  ];
  return tf.sequential({
    name: 'fashion_cnn',
    layers: [
      ...convBlock(32, true),
      ...convBlock(64, false),
      tf.layers.flatten({ name: name('flatten') }),
      tf.layers.dense({ name: name('dense'), units: 128, activation: 'relu', kernelInitializer: init() }),
      tf.layers.dense({ name: name('dense'), units: 10, activation: 'softmax', kernelInitializer: init() }),
    ],
  });
}

/**
 * MobileNet-style: convolutions feeding BN have no bias (as in Keras's
 * MobileNet), activations are ReLU(max_value=6) layers.
 */
export function fashionDwsepLayers(): tf.LayersModel {
  const name = kerasNamer();
  const init = seeder(28_616);
  const bnRelu6 = (): tf.layers.Layer[] => [
    // Momentum 0.9 (PyTorch's 0.1): its activations have variances near 1e-3, so Keras's 0.99
    // leaves the moving variance dominated by its initial 1 for thousands of steps.
    tf.layers.batchNormalization({ name: name('batch_normalization'), momentum: 0.9 }),
    tf.layers.reLU({ name: name('re_lu'), maxValue: 6 }),
  ];
  const block = (filters: number, stride: number): tf.layers.Layer[] => [
    tf.layers.depthwiseConv2d({ name: name('depthwise_conv2d'), kernelSize: 3, strides: stride, padding: 'same', useBias: false, depthwiseInitializer: init() }),
    ...bnRelu6(),
    tf.layers.conv2d({ name: name('conv2d'), filters, kernelSize: 1, useBias: false, kernelInitializer: init() }),
    ...bnRelu6(),
  ];
  return tf.sequential({
    name: 'fashion_dwsep',
    layers: [
      tf.layers.conv2d({ name: name('conv2d'), inputShape: [28, 28, 1], filters: 16, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: init() }),
      ...bnRelu6(),
      ...block(32, 1), // 14x14x32
      ...block(64, 2), // 7x7x64
      ...block(64, 1), // 7x7x64
      tf.layers.globalAveragePooling2d({ name: name('global_average_pooling2d') }),
      tf.layers.dense({ name: name('dense'), units: 10, activation: 'softmax', kernelInitializer: init() }),
    ],
  });
}

function graphOf(build: () => tf.LayersModel): () => Graph {
  return () => {
    const model = build();
    try {
      return graphFromLayersModel(model);
    } finally {
      model.dispose();
    }
  };
}

export const builtinModels: BuiltinModelEntry[] = [
  {
    name: 'dense_784_256_128_10',
    purpose: 'Dense network for flattened 28x28 images (MNIST, Fashion-MNIST).',
    build: graphOf(denseMnistLayers),
    buildLayersModel: denseMnistLayers,
    inputShape: [784],
    numClasses: 10,
  },
  {
    name: 'conv_bn_relu_dense',
    purpose: 'One convolution with BatchNormalization to fold, for 32x32x3 images (CIFAR-10).',
    build: graphOf(convBnReluDenseLayers),
    buildLayersModel: convBnReluDenseLayers,
    inputShape: [32, 32, 3],
    numClasses: 10,
  },
  {
    name: 'fashion_cnn',
    purpose: 'Fashion-MNIST CNN: two conv-BN-ReLU-maxpool blocks, untrained (the bundled sample is this network trained).',
    build: graphOf(fashionCnnLayers),
    buildLayersModel: fashionCnnLayers,
    inputShape: [28, 28, 1],
    numClasses: 10,
  },
  {
    name: 'fashion_dwsep',
    purpose: 'MobileNet-like depthwise-separable net for 28x28x1: a stride-2 convolution, three depthwise + pointwise blocks with BN and ReLU6.',
    build: graphOf(fashionDwsepLayers),
    buildLayersModel: fashionDwsepLayers,
    inputShape: [28, 28, 1],
    numClasses: 10,
  },
];

/** The catalog's description: the purpose, then the architecture of the graph the entry builds. */
export function builtinDescription(entry: BuiltinModelEntry): string {
  return `${entry.purpose} ${describeArchitecture(summarizeGraph(entry.build()).layers)}`;
}

export function builtinModel(name: string): BuiltinModelEntry {
  const entry = builtinModels.find((m) => m.name === name);
  if (!entry) throw new Error(`no built-in model named ${name}; available: ${builtinModels.map((m) => m.name).join(', ')}`);
  return entry;
}
