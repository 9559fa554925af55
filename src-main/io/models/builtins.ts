/**
 * Built-in models. Each is built with tfjs-layers, with Keras-style layer
 * names given explicitly (tfjs's own automatic names depend on how many layers
 * were created before, so they would differ between runs) and seeded
 * initializers, so every build gives the same weights. Biases and BN
 * parameters start at the Keras defaults (zeros / ones). A recipe other than
 * 'keras' (builtin-recipe.ts) starts the same layers as PyTorch would: the
 * accuracy bench uses it to train with its torch.ao peer's recipe.
 */
import { tf } from '../../engine/tfjs.js';
import { graphFromLayersModel } from '../../engine/graph/from-layers.js';
import type { Graph } from '../../engine/graph/types.js';
import { describeArchitecture } from '../../engine/graph/describe.js';
import { summarizeGraph } from '../../engine/graph/summary.js';
import { recipeInit, type BuiltinRecipe } from './builtin-recipe.js';

export interface BuiltinModelEntry {
  name: string;
  /** What the model is for; the catalog adds its architecture, derived from the built graph (builtinDescription). */
  purpose: string;
  /** The model as a Graph with its deterministic initial weights (recipe: default 'keras'). */
  build(recipe?: BuiltinRecipe, draw?: number): Graph;
  /** The same model as a tfjs-layers model (the caller disposes it). */
  buildLayersModel(recipe?: BuiltinRecipe, draw?: number): tf.LayersModel;
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

export function denseMnistLayers(recipe: BuiltinRecipe = 'keras', draw = 0): tf.LayersModel {
  const name = kerasNamer();
  const init = recipeInit(recipe, 784_256 + draw * DRAW_STRIDE);
  const dense = (fanIn: number, units: number, activation: 'relu' | 'softmax') =>
    tf.layers.dense({ name: name('dense'), ...(fanIn === 784 ? { inputShape: [784] } : {}), units, activation, kernelInitializer: init.kernel(fanIn), biasInitializer: init.bias(fanIn) });
  return tf.sequential({ name: 'dense_784_256_128_10', layers: [dense(784, 256, 'relu'), dense(256, 128, 'relu'), dense(128, 10, 'softmax')] });
}

export function convBnReluDenseLayers(recipe: BuiltinRecipe = 'keras', draw = 0): tf.LayersModel {
  const name = kerasNamer();
  const init = recipeInit(recipe, 32_323 + draw * DRAW_STRIDE);
  return tf.sequential({
    name: 'conv_bn_relu_dense',
    layers: [
      tf.layers.conv2d({ name: name('conv2d'), inputShape: [32, 32, 3], filters: 32, kernelSize: 3, padding: 'same', kernelInitializer: init.kernel(27), biasInitializer: init.bias(27) }),
      tf.layers.batchNormalization({ name: name('batch_normalization'), ...init.batchNorm() }),
      tf.layers.activation({ name: name('activation'), activation: 'relu' }),
      tf.layers.flatten({ name: name('flatten') }),
      tf.layers.dense({ name: name('dense'), units: 10, activation: 'softmax', kernelInitializer: init.kernel(32 * 32 * 32), biasInitializer: init.bias(32 * 32 * 32) }),
    ],
  });
}

export function fashionCnnLayers(recipe: BuiltinRecipe = 'keras', draw = 0): tf.LayersModel {
  const name = kerasNamer();
  const init = recipeInit(recipe, 28_281 + draw * DRAW_STRIDE);
  const convBlock = (filters: number, first: boolean): tf.layers.Layer[] => [
    tf.layers.conv2d({
      name: name('conv2d'),
      ...(first ? { inputShape: [28, 28, 1] } : {}),
      filters,
      kernelSize: 3,
      padding: 'same',
      kernelInitializer: init.kernel(first ? 9 : 32 * 9),
      biasInitializer: init.bias(first ? 9 : 32 * 9),
    }),
    tf.layers.batchNormalization({ name: name('batch_normalization'), ...init.batchNorm() }),
    tf.layers.activation({ name: name('activation'), activation: 'relu' }),
    tf.layers.maxPooling2d({ name: name('max_pooling2d'), poolSize: 2 }),
  ];
  return tf.sequential({
    name: 'fashion_cnn',
    layers: [
      ...convBlock(32, true),
      ...convBlock(64, false),
      tf.layers.flatten({ name: name('flatten') }),
      tf.layers.dense({ name: name('dense'), units: 128, activation: 'relu', kernelInitializer: init.kernel(7 * 7 * 64), biasInitializer: init.bias(7 * 7 * 64) }),
      tf.layers.dense({ name: name('dense'), units: 10, activation: 'softmax', kernelInitializer: init.kernel(128), biasInitializer: init.bias(128) }),
    ],
  });
}

/**
 * MobileNet-style: convolutions feeding BN have no bias (as in Keras's
 * MobileNet), activations are ReLU(max_value=6) layers.
 */
export function fashionDwsepLayers(recipe: BuiltinRecipe = 'keras', draw = 0): tf.LayersModel {
  const name = kerasNamer();
  const init = recipeInit(recipe, 28_616 + draw * DRAW_STRIDE);
  const bnRelu6 = (): tf.layers.Layer[] => [
    // Momentum 0.9 (PyTorch's 0.1): its activations have variances near 1e-3, so Keras's 0.99
    // leaves the moving variance dominated by its initial 1 for thousands of steps.
    tf.layers.batchNormalization({ name: name('batch_normalization'), momentum: 0.9, ...init.batchNorm() }),
    tf.layers.reLU({ name: name('re_lu'), maxValue: 6 }),
  ];
  const block = (inputs: number, filters: number, stride: number): tf.layers.Layer[] => [
    tf.layers.depthwiseConv2d({ name: name('depthwise_conv2d'), kernelSize: 3, strides: stride, padding: 'same', useBias: false, depthwiseInitializer: init.kernel(9) }),
    ...bnRelu6(),
    tf.layers.conv2d({ name: name('conv2d'), filters, kernelSize: 1, useBias: false, kernelInitializer: init.kernel(inputs) }),
    ...bnRelu6(),
  ];
  return tf.sequential({
    name: 'fashion_dwsep',
    layers: [
      tf.layers.conv2d({ name: name('conv2d'), inputShape: [28, 28, 1], filters: 16, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: init.kernel(9) }),
      ...bnRelu6(),
      ...block(16, 32, 1), // 14x14x32
      ...block(32, 64, 2), // 7x7x64
      ...block(64, 64, 1), // 7x7x64
      tf.layers.globalAveragePooling2d({ name: name('global_average_pooling2d') }),
      tf.layers.dense({ name: name('dense'), units: 10, activation: 'softmax', kernelInitializer: init.kernel(64), biasInitializer: init.bias(64) }),
    ],
  });
}

/**
 * Seeds between two draws of the same built-in's initial weights: draw 0 is
 * the built-in users get; the accuracy bench trains draws 0..N−1 so its float
 * cell varies the start as its torch peer's seeds do.
 */
const DRAW_STRIDE = 100_000;

function graphOf(build: (recipe?: BuiltinRecipe, draw?: number) => tf.LayersModel): (recipe?: BuiltinRecipe, draw?: number) => Graph {
  return (recipe, draw) => {
    const model = build(recipe, draw);
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
