/**
 * IR nodes of the layers keras.applications' mobile models add to plain
 * convnets (MobileNetV2/V3, EfficientNet): ZeroPadding2D, Cropping2D,
 * UpSampling2D, Multiply, Rescaling / Normalization, global pools with
 * keepdims, the Softmax and LeakyReLU layers, SeparableConv2D, and the split
 * of a Dense / convolution whose own activation TFLite cannot fuse. Each
 * function takes the layer's tfjs config (see from-layers.ts' modelledNode,
 * which dispatches here) and throws through `fail` on an option the IR does
 * not model, so the layer stays an opaque float layer instead.
 */
import type * as tf from '@tensorflow/tfjs';
import { Normalization } from './tfjs-compat/normalization.js';
import { numbers, pair, pairOfPairs, type Config } from './layer-config.js';
import type {
  ActivationNode,
  AffineNode,
  Conv2DNode,
  Crop2DNode,
  DepthwiseConv2DNode,
  GlobalPool2DNode,
  LayerActivation,
  Padding,
  Shape,
  UpSample2DNode,
  WeightData,
  ZeroPad2DNode,
} from './types.js';

export interface NodeBase {
  name: string;
  inputs: string[];
  outputShape: Shape;
}

type Fail = (reason?: string) => Error;

export function zeroPadNode(base: NodeBase, config: Config): ZeroPad2DNode {
  return { ...base, op: 'zeroPad2d', padding: pairOfPairs(config['padding'] ?? 1) };
}

export function cropNode(base: NodeBase, config: Config): Crop2DNode {
  return { ...base, op: 'crop2d', cropping: pairOfPairs(config['cropping'] ?? 0) };
}

export function upSampleNode(base: NodeBase, config: Config, fail: Fail): UpSample2DNode {
  const interpolation = config['interpolation'] ?? 'nearest';
  if (interpolation !== 'nearest') throw fail(`interpolation ${JSON.stringify(interpolation)} (only nearest)`);
  return { ...base, op: 'upSample2d', size: pair(config['size'] ?? 2) };
}

export function globalPoolNode(base: NodeBase, className: 'GlobalAveragePooling2D' | 'GlobalMaxPooling2D', config: Config): GlobalPool2DNode {
  const keepdims = config['keepdims'] === true;
  return { ...base, op: className === 'GlobalAveragePooling2D' ? 'globalAvgPool2d' : 'globalMaxPool2d', ...(keepdims ? { keepdims } : {}) };
}

/** Rescaling: y = x·scale + offset, each a number or one value per channel. */
export function rescalingNode(base: NodeBase, config: Config, fail: Fail): AffineNode {
  const scale = numbers(config['scale']);
  const offset = numbers(config['offset'] ?? 0);
  return { ...base, op: 'affine', ...checkedVectors(base, scale, offset, fail), kerasClass: 'Rescaling' };
}

/** Normalization (the studio's registered class): its (x − mean) / max(√var, ε) as an affine map. */
export function normalizationNode(base: NodeBase, layer: tf.layers.Layer, fail: Fail): AffineNode {
  if (!(layer instanceof Normalization)) throw fail('it is not the studio-registered Normalization class');
  const { scale, offset } = layer.affine();
  return { ...base, op: 'affine', ...checkedVectors(base, scale, offset, fail), kerasClass: 'Normalization' };
}

/** Vectors of length 1 (every channel) or the channel count; a scalar one with a per-channel other is spread. */
function checkedVectors(base: NodeBase, scale: number[], offset: number[], fail: Fail): { scale: number[]; offset: number[] } {
  const channels = base.outputShape[base.outputShape.length - 1]!;
  for (const v of [scale, offset]) {
    if (v.length !== 1 && v.length !== channels) throw fail(`a scale or offset of ${v.length} values does not fit ${channels} channels`);
  }
  const n = Math.max(scale.length, offset.length);
  const spread = (v: number[]) => (v.length === n ? v : new Array<number>(n).fill(v[0]!));
  return { scale: spread(scale), offset: spread(offset) };
}

/** The Softmax layer over the last axis (tfjs's default axis is 1, the last one of a rank-2 input). */
export function softmaxNode(base: NodeBase, config: Config, fail: Fail): ActivationNode {
  const rank = base.outputShape.length + 1;
  const raw = config['axis'] ?? 1;
  const axis = Array.isArray(raw) && raw.length === 1 ? raw[0] : raw;
  if (axis !== -1 && axis !== rank - 1) throw fail(`softmax over axis ${JSON.stringify(raw)} (only the last axis)`);
  return { ...base, op: 'activation', activation: 'softmax' };
}

export function leakyReluNode(base: NodeBase, config: Config): ActivationNode {
  const alpha = config['alpha'] ?? config['negativeSlope'] ?? 0.3;
  return { ...base, op: 'activation', activation: 'leaky_relu', alpha: alpha as number };
}

export interface SeparableParts {
  depthwiseKernel?: WeightData;
  pointwiseKernel?: WeightData;
  bias?: WeightData;
  inputShape: Shape;
  activation: LayerActivation;
  padding: Padding;
}

/**
 * SeparableConv2D as the two ops it computes (tf.separableConv2d): a
 * DepthwiseConv2D `<name>/depthwise` with the strides, padding and dilation
 * (no bias, linear), then a 1×1 Conv2D `<name>` with the bias and the
 * activation, so every later stage sees ops it knows.
 */
export function separableNodes(base: NodeBase, config: Config, parts: SeparableParts, fail: Fail): [DepthwiseConv2DNode, Conv2DNode] {
  const { depthwiseKernel, pointwiseKernel, bias } = parts;
  if (!depthwiseKernel || !pointwiseKernel) throw fail('its kernels are missing');
  const mult = depthwiseKernel.shape[3]!;
  const inChannels = parts.inputShape[parts.inputShape.length - 1]!;
  const [oh, ow] = base.outputShape as [number, number, number];
  const depthwise: DepthwiseConv2DNode = {
    name: `${base.name}/depthwise`,
    inputs: base.inputs,
    outputShape: [oh, ow, inChannels * mult],
    op: 'depthwiseConv2d',
    kernelSize: pair(config['kernelSize']),
    strides: pair(config['strides'] ?? 1),
    padding: parts.padding,
    dilation: pair(config['dilationRate'] ?? 1),
    depthMultiplier: mult,
    activation: 'linear',
    weights: { kernel: depthwiseKernel },
  };
  const pointwise: Conv2DNode = {
    ...base,
    inputs: [depthwise.name],
    op: 'conv2d',
    filters: pointwiseKernel.shape[3]!,
    kernelSize: [1, 1],
    strides: [1, 1],
    padding: 'valid',
    dilation: [1, 1],
    activation: parts.activation,
    weights: bias ? { kernel: pointwiseKernel, bias } : { kernel: pointwiseKernel },
  };
  return [depthwise, pointwise];
}
