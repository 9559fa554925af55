/**
 * Small seeded tfjs-layers models using the layers of keras.applications'
 * mobile models (no test cases here): one model per layer, and one block each
 * of MobileNetV2, MobileNetV3 and EfficientNet built as keras.applications
 * builds them. Shared by the graph, transform, ONNX export and PTQ tests.
 */
import * as tf from '@tensorflow/tfjs';
import { GlobalAveragePooling2D, GlobalMaxPooling2D, Normalization } from '../../../../src-main/engine/graph/tfjs-compat/index.js';
import { perturbWeights, rng } from './fixtures.js';

type T = tf.SymbolicTensor;
type Act = Parameters<typeof tf.layers.activation>[0]['activation'];

const glorot = (seed: number) => tf.initializers.glorotUniform({ seed });
const apply = (layer: tf.layers.Layer, x: T | T[]) => layer.apply(x) as T;

/** An Activation layer for any tfjs activation name, the registered Keras ones included. */
export const activation = (name: string, fn: string) => tf.layers.activation({ name, activation: fn as Act });

type ConvArgs = Parameters<typeof tf.layers.conv2d>[0];
type DepthwiseArgs = Parameters<typeof tf.layers.depthwiseConv2d>[0];

export const conv = (name: string, filters: number, kernelSize: number, opts: Partial<ConvArgs> = {}) =>
  tf.layers.conv2d({ name, filters, kernelSize, kernelInitializer: glorot(name.length * 7 + filters), ...opts });

const depthwise = (name: string, kernelSize: number, opts: Partial<DepthwiseArgs> = {}) =>
  tf.layers.depthwiseConv2d({ name, kernelSize, depthwiseInitializer: glorot(name.length * 5 + kernelSize), useBias: false, ...opts });

const bn = (name: string) => tf.layers.batchNormalization({ name, axis: -1, momentum: 0.999, epsilon: 1e-3 });

/** keras.applications' correct_pad for a stride-2 'valid' kernel: one pixel less before when a side is even. */
export function correctPad(x: T, kernel: number): [[number, number], [number, number]] {
  const [h, w] = [x.shape[1]!, x.shape[2]!];
  const c = Math.floor(kernel / 2);
  return [
    [c - (1 - (h % 2)), c],
    [c - (1 - (w % 2)), c],
  ];
}

/**
 * Seeded non-trivial weights (fixtures.perturbWeights), then each
 * Normalization's statistics: mean in [-0.5, 0.5), variance in [0.25, 2.25)
 * (perturbWeights would give it negative variances).
 */
export function seedMobile(model: tf.LayersModel, seed: number): tf.LayersModel {
  perturbWeights(model, seed);
  const next = rng(seed + 1);
  for (const layer of model.layers) {
    if (!(layer instanceof Normalization) || layer.weights.length === 0) continue;
    const shape = layer.weights[0]!.shape as number[];
    const c = shape[0] ?? 1;
    const values = [
      tf.tensor(Float32Array.from({ length: c }, () => next() - 0.5), shape),
      tf.tensor(Float32Array.from({ length: c }, () => 0.25 + 2 * next()), shape),
      tf.scalar(100),
    ];
    layer.setWeights(values);
    tf.dispose(values);
  }
  return model;
}

function single(name: string, shape: number[], body: (x: T) => T): tf.LayersModel {
  const input = tf.input({ shape, name: 'input' });
  return seedMobile(tf.model({ inputs: input, outputs: body(input), name }), 5);
}

export interface LayerCase {
  name: string;
  build: () => tf.LayersModel;
  /** `name:op` of every IR node, in graph order. */
  nodes: string[];
}

/** One model per new layer (or option), each ending in something with weights so the layer's output is used. */
export const LAYER_CASES: LayerCase[] = [
  {
    name: 'ZeroPadding2D ((1,2),(0,1))',
    build: () => single('zero_pad', [5, 5, 2], (x) => apply(conv('conv', 3, 2), apply(tf.layers.zeroPadding2d({ name: 'pad', padding: [[1, 2], [0, 1]] }), x))),
    nodes: ['input:input', 'pad:zeroPad2d', 'conv:conv2d'],
  },
  {
    name: 'Cropping2D ((1,0),(2,1))',
    build: () => single('crop', [6, 7, 2], (x) => apply(conv('conv', 3, 2), apply(tf.layers.cropping2D({ name: 'crop', cropping: [[1, 0], [2, 1]] }), x))),
    nodes: ['input:input', 'crop:crop2d', 'conv:conv2d'],
  },
  {
    name: 'UpSampling2D (2,3) nearest',
    build: () => single('upsample', [3, 4, 2], (x) => apply(conv('conv', 3, 2), apply(tf.layers.upSampling2d({ name: 'up', size: [2, 3] }), x))),
    nodes: ['input:input', 'up:upSample2d', 'conv:conv2d'],
  },
  {
    name: 'Multiply of an image and a [1,1,c] gate (squeeze-and-excite)',
    build: () =>
      single('multiply', [5, 5, 3], (x) => {
        const y = apply(conv('conv', 4, 3, { padding: 'same' }), x);
        const pooled = apply(new GlobalAveragePooling2D({ name: 'pool', keepdims: true }), y);
        const gate = apply(conv('gate', 4, 1, { activation: 'sigmoid' }), pooled);
        return apply(tf.layers.multiply({ name: 'mul' }), [y, gate]);
      }),
    nodes: ['input:input', 'conv:conv2d', 'pool:globalAvgPool2d', 'gate:conv2d', 'gate/sigmoid:activation', 'mul:multiply'],
  },
  {
    name: 'Multiply of an image and a rank-1 gate (Keras inserts the unit axes after the batch axis)',
    build: () =>
      single('multiply_rank', [4, 4, 3], (x) => {
        const gate = apply(tf.layers.dense({ name: 'gate', units: 3, kernelInitializer: glorot(3) }), apply(tf.layers.flatten({ name: 'flat' }), x));
        return apply(tf.layers.multiply({ name: 'mul' }), [x, gate]);
      }),
    nodes: ['input:input', 'flat:flatten', 'gate:dense', 'mul:multiply'],
  },
  {
    name: 'Rescaling, per-channel scale and offset',
    build: () =>
      single('rescaling', [4, 4, 3], (x) => {
        const r = tf.layers.rescaling({ name: 'rescale', scale: [0.5, 2, -1] as unknown as number, offset: [0.1, 0, -0.3] as unknown as number });
        return apply(conv('conv', 2, 3), apply(r, x));
      }),
    nodes: ['input:input', 'rescale:affine', 'conv:conv2d'],
  },
  {
    name: 'Normalization (adapted weights) after Rescaling',
    build: () =>
      single('normalization', [4, 4, 3], (x) => {
        const scaled = apply(tf.layers.rescaling({ name: 'rescale', scale: 1 / 255 }), x);
        return apply(conv('conv', 2, 3), apply(new Normalization({ name: 'norm', axis: -1 }), scaled));
      }),
    nodes: ['input:input', 'rescale:affine', 'norm:affine', 'conv:conv2d'],
  },
  {
    name: 'Normalization (mean and variance in the config, invert)',
    build: () => single('normalization_invert', [6], (x) => apply(tf.layers.dense({ name: 'dense', units: 2 }), apply(new Normalization({ name: 'denorm', axis: -1, mean: 0.5, variance: 4, invert: true }), x))),
    nodes: ['input:input', 'denorm:affine', 'dense:dense'],
  },
  {
    name: 'GlobalAveragePooling2D keepdims and GlobalMaxPooling2D both ways',
    build: () =>
      single('global_pools', [5, 4, 3], (x) => {
        const avg = apply(conv('avg_conv', 2, 1), apply(new GlobalAveragePooling2D({ name: 'avg', keepdims: true }), x));
        const max = apply(conv('max_conv', 2, 1), apply(new GlobalMaxPooling2D({ name: 'max', keepdims: true }), x));
        const flatMax = apply(tf.layers.globalMaxPooling2d({ name: 'max_flat' }), x);
        const both = apply(tf.layers.flatten({ name: 'flat' }), apply(tf.layers.add({ name: 'add' }), [avg, max]));
        return apply(tf.layers.concatenate({ name: 'cat' }), [both, flatMax]);
      }),
    nodes: ['input:input', 'avg:globalAvgPool2d', 'max:globalMaxPool2d', 'avg_conv:conv2d', 'max_conv:conv2d', 'add:add', 'flat:flatten', 'max_flat:globalMaxPool2d', 'cat:concat'],
  },
  {
    name: 'SeparableConv2D (stride 2, same, depth multiplier 2, relu)',
    build: () =>
      single('separable', [7, 7, 3], (x) =>
        apply(
          tf.layers.separableConv2d({ name: 'sep', filters: 5, kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2, activation: 'relu', depthwiseInitializer: glorot(1), pointwiseInitializer: glorot(2) }),
          x,
        ),
      ),
    nodes: ['input:input', 'sep/depthwise:depthwiseConv2d', 'sep:conv2d'],
  },
  {
    name: "dilated Conv2D, 'same' padding",
    build: () => single('dilated', [9, 8, 2], (x) => apply(conv('conv', 3, 3, { padding: 'same', dilationRate: 2 }), x)),
    nodes: ['input:input', 'conv:conv2d'],
  },
  {
    name: 'Add of three inputs',
    build: () => single('add3', [4, 4, 2], (x) => apply(tf.layers.add({ name: 'add' }), [apply(conv('a', 2, 1), x), apply(conv('b', 2, 3, { padding: 'same' }), x), x])),
    nodes: ['input:input', 'a:conv2d', 'b:conv2d', 'add:add'],
  },
  {
    name: 'BatchNormalization after a Concatenate (DenseNet)',
    build: () =>
      single('densenet_bn', [4, 4, 2], (x) => {
        const cat = apply(tf.layers.concatenate({ name: 'cat' }), [x, apply(conv('conv', 3, 3, { padding: 'same' }), x)]);
        return apply(conv('conv_1', 2, 1), apply(tf.layers.reLU({ name: 'relu' }), apply(bn('bn'), cat)));
      }),
    nodes: ['input:input', 'conv:conv2d', 'cat:concat', 'bn:batchNorm', 'relu:activation', 'conv_1:conv2d'],
  },
];

/** The activations a layer or a Dense/Conv can apply, by tfjs name, with the IR name and a closed form. */
export const ACTIVATION_CASES: { tfjs: string; ir: string; f: (x: number) => number }[] = [
  { tfjs: 'swish', ir: 'swish', f: (x) => x / (1 + Math.exp(-x)) },
  { tfjs: 'silu', ir: 'swish', f: (x) => x / (1 + Math.exp(-x)) },
  { tfjs: 'keras3HardSigmoid', ir: 'hard_sigmoid', f: (x) => Math.min(Math.max(x + 3, 0), 6) / 6 },
  { tfjs: 'hardSigmoid', ir: 'hard_sigmoid_keras2', f: (x) => Math.min(Math.max(0.2 * x + 0.5, 0), 1) },
  { tfjs: 'hardSwish', ir: 'hard_swish', f: (x) => (x * Math.min(Math.max(x + 3, 0), 6)) / 6 },
  { tfjs: 'hardSilu', ir: 'hard_swish', f: (x) => (x * Math.min(Math.max(x + 3, 0), 6)) / 6 },
];

/** Input → Activation(fn) on [n] values: the activation alone. */
export function activationModel(fn: string): tf.LayersModel {
  const input = tf.input({ shape: [8], name: 'input' });
  return tf.model({ inputs: input, outputs: apply(activation('act', fn), input), name: `act_${fn}` });
}

/** Conv2D and Dense applying `fn` themselves (activation=...). */
export function fusedActivationModel(fn: string): tf.LayersModel {
  const input = tf.input({ shape: [4, 4, 2], name: 'input' });
  const y = apply(conv('conv', 3, 3, { padding: 'same', activation: fn as Act }), input);
  const out = apply(tf.layers.dense({ name: 'dense', units: 3, activation: fn as Act, kernelInitializer: glorot(9) }), apply(tf.layers.flatten({ name: 'flat' }), y));
  return seedMobile(tf.model({ inputs: input, outputs: out, name: `fused_${fn}` }), 2);
}

/** The LeakyReLU and Softmax layers. */
export function leakySoftmaxModel(): tf.LayersModel {
  return single('leaky_softmax', [3, 3, 2], (x) => {
    const y = apply(tf.layers.leakyReLU({ name: 'leaky', alpha: 0.15 }), apply(conv('conv', 4, 2), x));
    return apply(tf.layers.softmax({ name: 'softmax', axis: -1 }), y);
  });
}

// ---------------------------------------------------------------------------
// keras.applications blocks

/**
 * MobileNetV2 (keras.applications.mobilenet_v2._inverted_res_block): a
 * stride-2 block (1×1 expand → BN → ReLU6, ZeroPadding2D(correct_pad) →
 * 3×3 stride-2 'valid' depthwise → BN → ReLU6, 1×1 project → BN) and a
 * stride-1 block with its residual Add.
 */
export function mobileNetV2Block(shape = [8, 8, 4]): tf.LayersModel {
  const input = tf.input({ shape, name: 'input' });
  const block = (x: T, id: number, stride: 1 | 2, filters: number): T => {
    const p = `block_${id}_`;
    let y = apply(tf.layers.reLU({ name: `${p}expand_relu`, maxValue: 6 }), apply(bn(`${p}expand_BN`), apply(conv(`${p}expand`, x.shape[3]! * 3, 1, { useBias: false }), x)));
    if (stride === 2) y = apply(tf.layers.zeroPadding2d({ name: `${p}pad`, padding: correctPad(y, 3) }), y);
    y = apply(depthwise(`${p}depthwise`, 3, { strides: stride, padding: stride === 2 ? 'valid' : 'same' }), y);
    y = apply(tf.layers.reLU({ name: `${p}depthwise_relu`, maxValue: 6 }), apply(bn(`${p}depthwise_BN`), y));
    y = apply(bn(`${p}project_BN`), apply(conv(`${p}project`, filters, 1, { useBias: false }), y));
    return stride === 1 && x.shape[3] === filters ? apply(tf.layers.add({ name: `${p}add` }), [x, y]) : y;
  };
  const out = block(block(input, 1, 2, 6), 2, 1, 6);
  return seedMobile(tf.model({ inputs: input, outputs: out, name: 'mobilenetv2_block' }), 21);
}

/**
 * MobileNetV3 (keras.applications.mobilenet_v3, Keras 3): Rescaling to
 * [-1, 1], an expand conv with hard_swish, a ZeroPadding2D + stride-2
 * depthwise with hard_swish, a squeeze-and-excite (GlobalAveragePooling2D
 * keepdims → conv → ReLU → conv → hard_sigmoid → Multiply), project conv.
 */
export function mobileNetV3Block(shape = [8, 8, 3]): tf.LayersModel {
  const input = tf.input({ shape, name: 'input' });
  let x = apply(tf.layers.rescaling({ name: 'rescaling', scale: 1 / 127.5, offset: -1 }), input);
  x = apply(activation('expand_hard_swish', 'hardSwish'), apply(bn('expand_bn'), apply(conv('expand', 8, 1, { useBias: false }), x)));
  x = apply(tf.layers.zeroPadding2d({ name: 'depthwise_pad', padding: correctPad(x, 3) }), x);
  x = apply(depthwise('depthwise', 3, { strides: 2, padding: 'valid' }), x);
  x = apply(activation('depthwise_hard_swish', 'hardSwish'), apply(bn('depthwise_bn'), x));
  let se = apply(new GlobalAveragePooling2D({ name: 'se_avg_pool', keepdims: true }), x);
  se = apply(tf.layers.reLU({ name: 'se_relu' }), apply(conv('se_conv', 4, 1, { padding: 'same' }), se));
  se = apply(activation('se_hard_sigmoid', 'keras3HardSigmoid'), apply(conv('se_conv_1', 8, 1, { padding: 'same' }), se));
  x = apply(tf.layers.multiply({ name: 'se_mul' }), [x, se]);
  x = apply(bn('project_bn'), apply(conv('project', 6, 1, { useBias: false }), x));
  return seedMobile(tf.model({ inputs: input, outputs: x, name: 'mobilenetv3_block' }), 31);
}

/**
 * EfficientNet (keras.applications.efficientnet): the stem Rescaling(1/255)
 * → Normalization → Rescaling(per-channel 1/√std, as for imagenet weights) →
 * ZeroPadding2D → stride-2 conv → BN → swish, then an MBConv block: depthwise
 * → BN → swish → squeeze-and-excite (GlobalAveragePooling2D → Reshape
 * [1,1,c] → conv with swish → conv with sigmoid → Multiply) → project → BN.
 */
export function efficientNetBlock(shape = [8, 8, 3]): tf.LayersModel {
  const input = tf.input({ shape, name: 'input' });
  let x = apply(tf.layers.rescaling({ name: 'rescaling', scale: 1 / 255 }), input);
  x = apply(new Normalization({ name: 'normalization', axis: -1 }), x);
  x = apply(tf.layers.rescaling({ name: 'rescaling_1', scale: [1 / Math.sqrt(0.229), 1 / Math.sqrt(0.224), 1 / Math.sqrt(0.225)] as unknown as number }), x);
  x = apply(tf.layers.zeroPadding2d({ name: 'stem_conv_pad', padding: correctPad(x, 3) }), x);
  x = apply(conv('stem_conv', 8, 3, { strides: 2, padding: 'valid', useBias: false }), x);
  x = apply(activation('stem_activation', 'swish'), apply(bn('stem_bn'), x));
  x = apply(depthwise('block1a_dwconv', 3, { padding: 'same' }), x);
  x = apply(activation('block1a_activation', 'swish'), apply(bn('block1a_bn'), x));
  let se = apply(tf.layers.globalAveragePooling2d({ name: 'block1a_se_squeeze' }), x);
  se = apply(tf.layers.reshape({ name: 'block1a_se_reshape', targetShape: [1, 1, 8] }), se);
  se = apply(conv('block1a_se_reduce', 2, 1, { padding: 'same', activation: 'swish' as Act }), se);
  se = apply(conv('block1a_se_expand', 8, 1, { padding: 'same', activation: 'sigmoid' }), se);
  x = apply(tf.layers.multiply({ name: 'block1a_se_excite' }), [x, se]);
  x = apply(bn('block1a_project_bn'), apply(conv('block1a_project_conv', 4, 1, { useBias: false }), x));
  return seedMobile(tf.model({ inputs: input, outputs: x, name: 'efficientnet_block' }), 41);
}

/**
 * A Fashion-MNIST classifier ([28,28,1] → 10 softmax) made of the blocks
 * above, for PTQ runs on the bundled data: EfficientNet's stem, a
 * MobileNetV2 residual block, a MobileNetV3 block with squeeze-and-excite, a
 * SeparableConv2D with LeakyReLU, cropping and up-sampling, global pools.
 */
export function mobileMixModel(): tf.LayersModel {
  const input = tf.input({ shape: [28, 28, 1], name: 'input' });
  let x = apply(tf.layers.rescaling({ name: 'rescaling', scale: 2, offset: -1 }), input);
  x = apply(new Normalization({ name: 'normalization', axis: -1 }), x);
  x = apply(tf.layers.zeroPadding2d({ name: 'stem_pad', padding: correctPad(x, 3) }), x);
  x = apply(activation('stem_swish', 'swish'), apply(bn('stem_bn'), apply(conv('stem_conv', 8, 3, { strides: 2, padding: 'valid', useBias: false }), x)));
  // MobileNetV2, stride 1 with its residual Add.
  let y = apply(tf.layers.reLU({ name: 'v2_dw_relu', maxValue: 6 }), apply(bn('v2_dw_bn'), apply(depthwise('v2_dw', 3, { padding: 'same' }), x)));
  y = apply(bn('v2_project_bn'), apply(conv('v2_project', 8, 1, { useBias: false }), y));
  x = apply(tf.layers.add({ name: 'v2_add' }), [x, y]);
  // MobileNetV3 with squeeze-and-excite.
  x = apply(activation('v3_expand_hs', 'hardSwish'), apply(bn('v3_expand_bn'), apply(conv('v3_expand', 16, 1, { useBias: false }), x)));
  x = apply(tf.layers.zeroPadding2d({ name: 'v3_pad', padding: correctPad(x, 3) }), x);
  x = apply(activation('v3_dw_hs', 'hardSwish'), apply(bn('v3_dw_bn'), apply(depthwise('v3_dw', 3, { strides: 2, padding: 'valid' }), x)));
  let se = apply(new GlobalAveragePooling2D({ name: 'v3_se_pool', keepdims: true }), x);
  se = apply(tf.layers.reLU({ name: 'v3_se_relu' }), apply(conv('v3_se_conv', 4, 1), se));
  se = apply(activation('v3_se_hsig', 'keras3HardSigmoid'), apply(conv('v3_se_conv_1', 16, 1), se));
  x = apply(tf.layers.multiply({ name: 'v3_se_mul' }), [x, se]);
  x = apply(bn('v3_project_bn'), apply(conv('v3_project', 8, 1, { useBias: false }), x));
  // Separable conv, cropping, up-sampling.
  x = apply(tf.layers.leakyReLU({ name: 'sep_leaky', alpha: 0.1 }), apply(tf.layers.separableConv2d({ name: 'sep', filters: 12, kernelSize: 3, padding: 'same', depthwiseInitializer: glorot(51), pointwiseInitializer: glorot(52) }), x));
  x = apply(tf.layers.cropping2D({ name: 'crop', cropping: [[1, 0], [1, 0]] }), x);
  x = apply(tf.layers.upSampling2d({ name: 'up', size: [2, 2] }), x);
  x = apply(conv('head_conv', 16, 3, { strides: 2, padding: 'same', activation: 'relu' }), x);
  const avg = apply(tf.layers.globalAveragePooling2d({ name: 'avg_pool' }), x);
  const max = apply(tf.layers.globalMaxPooling2d({ name: 'max_pool' }), x);
  x = apply(tf.layers.concatenate({ name: 'pools' }), [avg, max]);
  const out = apply(tf.layers.dense({ name: 'predictions', units: 10, activation: 'softmax', kernelInitializer: glorot(61) }), x);
  return seedMobile(tf.model({ inputs: input, outputs: out, name: 'mobile_mix' }), 71);
}

export const BLOCKS: { name: string; build: () => tf.LayersModel; inputScale: number }[] = [
  { name: 'MobileNetV2 block', build: () => mobileNetV2Block(), inputScale: 1 },
  { name: 'MobileNetV3 block', build: () => mobileNetV3Block(), inputScale: 255 },
  { name: 'EfficientNet block', build: () => efficientNetBlock(), inputScale: 255 },
  { name: 'mobile mix (Fashion-MNIST)', build: mobileMixModel, inputScale: 1 },
];
