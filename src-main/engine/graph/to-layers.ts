/**
 * Graph → tfjs-layers: an equivalent functional model holding copies of the
 * graph's weights, used for TF.js export and as the reference in tests.
 * Each node becomes the tfjs layer of its Keras class; an affine node becomes
 * a Rescaling (per-channel scale and offset; a Normalization's too), a
 * SeparableConv2D comes back as the DepthwiseConv2D + 1×1 Conv2D it was split
 * into, and an activation split off a Dense / convolution at import goes back
 * into that layer.
 */
import { tf } from '../tfjs.js';
import { buildOpaqueLayer } from './opaque-layer.js';
import { GlobalAveragePooling2D, GlobalMaxPooling2D, tfjsActivation } from './tfjs-compat/index.js';
import type { Graph, GraphNode, LayerActivation, WeightData } from './types.js';
import { isWeighted } from './types.js';

type Layer = tf.layers.Layer;
/** tfjs types activations as a closed union; the registered Keras ones are strings it also accepts. */
type TfjsActivation = Parameters<typeof tf.layers.activation>[0]['activation'];

/** A functional tfjs-layers model equivalent to the graph, holding copies of its weights. */
export function layersModelFromGraph(graph: Graph): tf.LayersModel {
  const tensors = new Map<string, tf.SymbolicTensor>();
  const layers: [Layer, GraphNode][] = [];
  const merged = mergedActivations(graph);
  let input: tf.SymbolicTensor | undefined;
  for (const node of graph.nodes) {
    const into = merged.byActivation.get(node.name);
    if (into) {
      // Computed by the layer it was split from.
      tensors.set(node.name, tensors.get(into)!);
      continue;
    }
    if (node.op === 'input') {
      if (input) throw new Error(`graph ${graph.name} has more than one input node`);
      input = tf.input({ shape: node.outputShape, name: node.name });
      tensors.set(node.name, input);
      continue;
    }
    const args = node.inputs.map((name) => {
      const t = tensors.get(name);
      if (!t) throw new Error(`graph ${graph.name}: layer ${node.name} reads ${name}, which is not defined before it`);
      return t;
    });
    const activation = merged.byLayer.get(node.name);
    const layer = layerForNode(activation && isWeighted(node) ? { ...node, activation } : node);
    const out = layer.apply(args.length === 1 ? args[0]! : args) as tf.SymbolicTensor;
    const got = out.shape.slice(1);
    if (!sameShape(got, node.outputShape)) {
      throw new Error(`graph ${graph.name}: layer ${node.name} gives shape [${got.join(',')}] but the graph says [${node.outputShape.join(',')}]`);
    }
    tensors.set(node.name, out);
    layers.push([layer, node]);
  }
  const output = tensors.get(graph.output);
  if (!input || !output) throw new Error(`graph ${graph.name} has no input node or no output node named ${graph.output}`);
  const model = tf.model({ inputs: input, outputs: output, name: graph.name });
  for (const [layer, node] of layers) setLayerWeights(layer, node);
  return model;
}

/**
 * Activations split off a Dense / convolution at import (from-layers.ts: an
 * Activation node `<layer>/<activation>` that is the only reader of the
 * linear layer): written back as the layer's own activation, as the Keras
 * model had it, so a model exported and imported again is the same graph.
 */
function mergedActivations(graph: Graph): { byActivation: Map<string, string>; byLayer: Map<string, LayerActivation> } {
  const readers = new Map<string, number>();
  for (const n of graph.nodes) for (const i of n.inputs) readers.set(i, (readers.get(i) ?? 0) + 1);
  const byActivation = new Map<string, string>();
  const byLayer = new Map<string, LayerActivation>();
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  for (const n of graph.nodes) {
    if (n.op !== 'activation' || n.activation === 'leaky_relu' || n.inputs.length !== 1) continue;
    const layer = byName.get(n.inputs[0]!);
    if (!layer || !isWeighted(layer) || layer.activation !== 'linear' || n.name !== `${layer.name}/${n.activation}`) continue;
    if (readers.get(layer.name) !== 1 || graph.output === layer.name) continue;
    byActivation.set(n.name, layer.name);
    byLayer.set(layer.name, n.activation);
  }
  return { byActivation, byLayer };
}

function sameShape(a: (number | null)[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function layerForNode(node: Exclude<GraphNode, { op: 'input' }>): Layer {
  const name = node.name;
  if (node.op === 'layer') return buildOpaqueLayer(node.className, node.config, name);
  // Weights are overwritten right after building; zeros is the cheapest initializer.
  const init = { kernelInitializer: 'zeros', biasInitializer: 'zeros' } as const;
  switch (node.op) {
    case 'dense':
      return tf.layers.dense({ name, units: node.units, activation: tfjsActivation(node.activation) as TfjsActivation, useBias: !!node.weights.bias, ...init });
    case 'conv2d':
      return tf.layers.conv2d({
        name,
        filters: node.filters,
        kernelSize: node.kernelSize,
        strides: node.strides,
        padding: node.padding,
        dilationRate: node.dilation,
        activation: tfjsActivation(node.activation) as TfjsActivation,
        useBias: !!node.weights.bias,
        ...init,
      });
    case 'depthwiseConv2d':
      return tf.layers.depthwiseConv2d({
        name,
        kernelSize: node.kernelSize,
        strides: node.strides,
        padding: node.padding,
        dilationRate: node.dilation,
        depthMultiplier: node.depthMultiplier,
        activation: tfjsActivation(node.activation) as TfjsActivation,
        useBias: !!node.weights.bias,
        depthwiseInitializer: 'zeros',
        biasInitializer: 'zeros',
      });
    case 'batchNorm':
      return tf.layers.batchNormalization({
        name,
        axis: -1,
        epsilon: node.epsilon,
        momentum: node.momentum,
        center: !!node.weights.beta,
        scale: !!node.weights.gamma,
      });
    case 'activation':
      if (node.activation === 'leaky_relu') return tf.layers.leakyReLU({ name, alpha: node.alpha! });
      return tf.layers.activation({ name, activation: tfjsActivation(node.activation) as TfjsActivation });
    case 'maxPool2d':
      return tf.layers.maxPooling2d({ name, poolSize: node.poolSize, strides: node.strides, padding: node.padding });
    case 'avgPool2d':
      return tf.layers.averagePooling2d({ name, poolSize: node.poolSize, strides: node.strides, padding: node.padding });
    case 'globalAvgPool2d':
      return new GlobalAveragePooling2D({ name, keepdims: !!node.keepdims });
    case 'globalMaxPool2d':
      return new GlobalMaxPooling2D({ name, keepdims: !!node.keepdims });
    case 'flatten':
      return tf.layers.flatten({ name });
    case 'reshape':
      // The output shape is the target with any -1 resolved (see reshapeNode).
      return tf.layers.reshape({ name, targetShape: [...node.outputShape] });
    case 'dropout':
      // tfjs takes null for the batch axis, as Keras writes it.
      return tf.layers.dropout({ name, rate: node.rate, ...(node.noiseShape ? { noiseShape: node.noiseShape as number[] } : {}) });
    case 'add':
      return tf.layers.add({ name });
    case 'concat':
      return tf.layers.concatenate({ name, axis: node.axis });
    case 'zeroPad2d':
      return tf.layers.zeroPadding2d({ name, padding: node.padding });
    case 'crop2d':
      return tf.layers.cropping2D({ name, cropping: node.cropping });
    case 'upSample2d':
      return tf.layers.upSampling2d({ name, size: node.size, interpolation: 'nearest' });
    case 'multiply':
      return tf.layers.multiply({ name });
    case 'affine': {
      // tfjs's Rescaling multiplies and adds whatever it holds: a list broadcasts over the channels.
      const value = (v: number[]) => (v.length === 1 ? v[0]! : v) as number;
      return tf.layers.rescaling({ name, scale: value(node.scale), offset: value(node.offset) });
    }
  }
}

/** Keras weight names of each op, matched against the layer's variables by suffix. */
function graphWeightFor(node: GraphNode, key: string): WeightData | undefined {
  if (!('weights' in node)) return undefined;
  const w = node.weights as Record<string, WeightData | undefined>;
  // Opaque layers keep their Keras weight names.
  if (node.op === 'layer') return w[key];
  switch (key) {
    case 'kernel':
    case 'depthwise_kernel':
      return w['kernel'];
    case 'moving_mean':
      return w['movingMean'];
    case 'moving_variance':
      return w['movingVariance'];
    default:
      return w[key];
  }
}

function setLayerWeights(layer: Layer, node: GraphNode): void {
  if (layer.weights.length === 0) return;
  const tensors = layer.weights.map((v) => {
    const key = v.originalName.slice(v.originalName.lastIndexOf('/') + 1);
    const data = graphWeightFor(node, key);
    if (!data) throw new Error(`layer ${node.name} has no ${key} weight in the graph`);
    // Copy: on the cpu backend a tensor may adopt the array it is given.
    return tf.tensor(data.values.slice(), data.shape, 'float32');
  });
  layer.setWeights(tensors);
  tf.dispose(tensors);
}
