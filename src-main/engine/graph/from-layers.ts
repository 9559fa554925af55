/**
 * Conversion between tfjs-layers models and the studio's Graph IR.
 *
 * graphFromLayersModel walks the model's symbolic tensors from its output back
 * to its input (so layers reused across models or unused branches do not
 * confuse it), opening up nested models into layers with path names
 * (flatten-nested.ts), converts each layer by class name (the mobile
 * keras.applications layers in mobile-layers.ts; a SeparableConv2D becomes two
 * nodes, and a Dense / convolution with an activation TFLite cannot fuse
 * becomes the layer plus an Activation node `<name>/<activation>`, which later
 * layers read), and copies the weights out as Float32Arrays. A layer the IR does not model (its class, or one of its
 * options) becomes an opaque 'layer' node holding its class name, tfjs config
 * and weights, provided tfjs-layers can rebuild it from those (see
 * buildOpaqueLayer); the planner then stops or keeps it float. Only a layer
 * tfjs cannot rebuild, or a structure the IR cannot hold (several inputs or
 * outputs, shared layers, unknown dimensions), throws. layersModelFromGraph
 * (to-layers.ts) rebuilds an equivalent functional model, used for TF.js
 * export and as the reference in tests.
 */
import { tf } from '../tfjs.js';
import { flattenModel } from './flatten-nested.js';
import { num, pair } from './layer-config.js';
import { splitLayerActivation } from './fused-activations.js';
import { cropNode, globalPoolNode, leakyReluNode, normalizationNode, rescalingNode, separableNodes, softmaxNode, upSampleNode, zeroPadNode } from './mobile-layers.js';
import { buildOpaqueLayer } from './opaque-layer.js';
// Registers the Keras classes tfjs lacks (activations, Normalization, keepdims pools) before any model loads.
import { irActivation, TFJS_ACTIVATIONS } from './tfjs-compat/index.js';
import type {
  Graph,
  GraphNode,
  LayerActivation,
  OpaqueLayerNode,
  Padding,
  Shape,
  WeightData,
} from './types.js';

export { buildOpaqueLayer };

type Layer = tf.layers.Layer;
type Config = Record<string, unknown>;

/** The model as a whole cannot be represented (several inputs, shared layers, unknown dims…). */
export class UnsupportedModelError extends Error {
  constructor(
    readonly modelName: string,
    message: string,
  ) {
    super(message);
    this.name = 'UnsupportedModelError';
  }
}

/**
 * A layer the studio cannot hold: tfjs-layers cannot rebuild it from its
 * config, or it is used in a way the IR cannot express (shared, several
 * outputs, unknown dimensions). Layers tfjs can rebuild become opaque nodes instead.
 */
export class UnsupportedLayerError extends UnsupportedModelError {
  constructor(
    modelName: string,
    readonly layerName: string,
    readonly className: string,
    /** Why, when the class itself is supported but an option is not. */
    readonly reason?: string,
  ) {
    super(
      modelName,
      reason
        ? `layer ${layerName} (${className}) is not supported: ${reason}`
        : `layer ${layerName} has unsupported class ${className}; modelled: ${SUPPORTED_CLASSES.join(', ')}`,
    );
    this.name = 'UnsupportedLayerError';
  }
}

/** Keras classes the IR models op by op (other classes tfjs can build become opaque 'layer' nodes). */
export const SUPPORTED_CLASSES = [
  'InputLayer',
  'Dense',
  'Conv2D',
  'DepthwiseConv2D',
  'BatchNormalization',
  'Activation',
  'ReLU',
  'MaxPooling2D',
  'AveragePooling2D',
  'GlobalAveragePooling2D',
  'GlobalMaxPooling2D',
  'Flatten',
  'Reshape',
  'Dropout',
  'Add',
  'Concatenate',
  'Multiply',
  'ZeroPadding2D',
  'Cropping2D',
  'UpSampling2D',
  'Rescaling',
  'Normalization',
  'Softmax',
  'LeakyReLU',
  'SeparableConv2D',
] as const;

// ---------------------------------------------------------------------------
// tfjs-layers → Graph

export function graphFromLayersModel(model: tf.LayersModel): Graph {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new UnsupportedModelError(
      model.name,
      `model ${model.name} has ${model.inputs.length} inputs and ${model.outputs.length} outputs; only single-input single-output models are supported`,
    );
  }
  // Nested models are opened up here: their layers arrive with path names (see flatten-nested.ts).
  const flat = flattenModel(model, (layerName, className, reason) => new UnsupportedLayerError(model.name, layerName, className, reason));
  const shapes = new Map<string, Shape>();
  /** Layer name → the node giving its output, where that is not the node of the same name (a split activation). */
  const outputOf = new Map<string, string>();
  const nodes = flat.layers.flatMap(({ name, layer, inputs: layerInputs }) => {
    const inputs = layerInputs.map((i) => outputOf.get(i) ?? i);
    // One layer may become several nodes (SeparableConv2D: depthwise + pointwise; a conv and its unfusable activation).
    const made = splitLayerActivation(nodeFromLayer(model.name, layer, name, inputs, inputs.map((i) => shapes.get(i)!)));
    for (const node of made) shapes.set(node.name, node.outputShape);
    const last = made[made.length - 1]!.name;
    if (last !== name) outputOf.set(name, last);
    return made;
  });
  if (nodes[0]?.op !== 'input') throw new UnsupportedModelError(model.name, `model ${model.name} does not start with an input layer`);
  return { name: model.name, nodes, output: outputOf.get(flat.output) ?? flat.output };
}

/** The IR nodes of a layer (never a nested model: flattenModel opened those up); `name` is its path name. */
function nodeFromLayer(modelName: string, layer: Layer, name: string, inputs: string[], inputShapes: Shape[]): GraphNode[] {
  const className = layer.getClassName();
  const config = layer.getConfig() as Config;
  const unsupported = (reason?: string) => new UnsupportedLayerError(modelName, name, className, reason);
  if (className === 'Reshape') return [reshapeNode(name, inputs, inputShapes[0]!, config['targetShape'] as (number | null)[], unsupported)];
  const outputShape = shapeWithoutBatch(layer.outputShape, () => unsupported('its output shape has unknown dimensions (give the model a fixed input shape)'));
  try {
    return [modelledNode(layer, className, config, { name, inputs, outputShape }, inputShapes, unsupported)].flat();
  } catch (e) {
    // The IR does not model this class or one of its options: keep the layer as tfjs builds it.
    if (e instanceof UnsupportedLayerError && e.layerName === name) return [opaqueNode(modelName, layer, name, inputs, outputShape, e.reason)];
    throw e;
  }
}

/** The IR node of a class the IR models; throws an UnsupportedLayerError (from `unsupported`) for a class or option it does not. */
function modelledNode(
  layer: Layer,
  className: string,
  config: Config,
  base: { name: string; inputs: string[]; outputShape: Shape },
  inputShapes: Shape[],
  unsupported: (reason?: string) => UnsupportedLayerError,
): GraphNode | GraphNode[] {
  const outputShape = base.outputShape;
  const channelsLast = () => {
    if (config['dataFormat'] !== undefined && config['dataFormat'] !== 'channelsLast') throw unsupported(`data format ${String(config['dataFormat'])} (only channels-last)`);
  };
  const activation = () => activationOf(config['activation'], unsupported);
  const padding = () => paddingOf(config['padding'], unsupported);

  switch (className) {
    case 'InputLayer':
      return { ...base, op: 'input' };
    case 'Dense': {
      const w = weightsOf(layer);
      return { ...base, op: 'dense', units: num(config['units']), activation: activation(), weights: withOptionalBias(w['kernel'], w['bias'], unsupported) };
    }
    case 'Conv2D': {
      channelsLast();
      const w = weightsOf(layer);
      return {
        ...base,
        op: 'conv2d',
        filters: num(config['filters']),
        kernelSize: pair(config['kernelSize']),
        strides: pair(config['strides'] ?? 1),
        padding: padding(),
        dilation: pair(config['dilationRate'] ?? 1),
        activation: activation(),
        weights: withOptionalBias(w['kernel'], w['bias'], unsupported),
      };
    }
    case 'DepthwiseConv2D': {
      channelsLast();
      const w = weightsOf(layer);
      return {
        ...base,
        op: 'depthwiseConv2d',
        kernelSize: pair(config['kernelSize']),
        strides: pair(config['strides'] ?? 1),
        padding: padding(),
        dilation: pair(config['dilationRate'] ?? 1),
        depthMultiplier: num(config['depthMultiplier'] ?? 1),
        activation: activation(),
        weights: withOptionalBias(w['depthwise_kernel'], w['bias'], unsupported),
      };
    }
    case 'BatchNormalization': {
      const axis = config['axis'];
      const rank = outputShape.length + 1;
      if (axis !== -1 && axis !== rank - 1) throw unsupported(`normalises axis ${JSON.stringify(axis)}; only the last (channel) axis is supported`);
      const w = weightsOf(layer);
      const movingMean = w['moving_mean'];
      const movingVariance = w['moving_variance'];
      if (!movingMean || !movingVariance) throw unsupported('moving statistics are missing');
      return {
        ...base,
        op: 'batchNorm',
        epsilon: num(config['epsilon'] ?? 1e-3),
        momentum: num(config['momentum'] ?? 0.99),
        weights: { ...(w['gamma'] ? { gamma: w['gamma'] } : {}), ...(w['beta'] ? { beta: w['beta'] } : {}), movingMean, movingVariance },
      };
    }
    case 'Activation':
      return { ...base, op: 'activation', activation: activation() };
    case 'ReLU': {
      const maxValue = config['maxValue'];
      if (maxValue == null) return { ...base, op: 'activation', activation: 'relu' };
      if (maxValue === 6) return { ...base, op: 'activation', activation: 'relu6' };
      throw unsupported(`max_value ${String(maxValue)} (only none or 6)`);
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      channelsLast();
      const poolSize = pair(config['poolSize'] ?? 2);
      return {
        ...base,
        op: className === 'MaxPooling2D' ? 'maxPool2d' : 'avgPool2d',
        poolSize,
        strides: config['strides'] == null ? poolSize : pair(config['strides']),
        padding: padding(),
      };
    }
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D':
      channelsLast();
      return globalPoolNode(base, className, config);
    case 'Flatten':
      channelsLast();
      return { ...base, op: 'flatten' };
    case 'Dropout':
      return dropoutNode(base, config, unsupported);
    case 'Add':
      return { ...base, op: 'add' };
    case 'Concatenate':
      return { ...base, op: 'concat', axis: num(config['axis'] ?? -1) };
    case 'Multiply':
      return { ...base, op: 'multiply' };
    case 'ZeroPadding2D':
      channelsLast();
      return zeroPadNode(base, config);
    case 'Cropping2D':
      channelsLast();
      return cropNode(base, config);
    case 'UpSampling2D':
      channelsLast();
      return upSampleNode(base, config, unsupported);
    case 'Rescaling':
      return rescalingNode(base, config, unsupported);
    case 'Normalization':
      return normalizationNode(base, layer, unsupported);
    case 'Softmax':
      return softmaxNode(base, config, unsupported);
    case 'LeakyReLU':
      return leakyReluNode(base, config);
    case 'SeparableConv2D': {
      channelsLast();
      const w = weightsOf(layer);
      const parts = { depthwiseKernel: w['depthwise_kernel'], pointwiseKernel: w['pointwise_kernel'], bias: w['bias'], inputShape: inputShapes[0]!, activation: activation(), padding: padding() };
      return separableNodes(base, config, parts, unsupported);
    }
    default:
      throw unsupported();
  }
}

/**
 * An opaque node for a layer tfjs-layers built but the IR does not model.
 * Checks here, at import, that tfjs can rebuild the layer from the stored
 * class name and JSON config, so the runtime and the writer cannot fail later.
 */
function opaqueNode(modelName: string, layer: Layer, name: string, inputs: string[], outputShape: Shape, reason: string | undefined): OpaqueLayerNode {
  const className = layer.getClassName();
  const config = JSON.parse(JSON.stringify(layer.getConfig())) as Config;
  try {
    // Unbuilt, it holds no tensors: nothing to dispose.
    buildOpaqueLayer(className, config, name);
  } catch (e) {
    throw new UnsupportedLayerError(modelName, name, className, `TensorFlow.js cannot rebuild it from its config (${(e as Error).message})`);
  }
  const keys = layer.weights.map((v) => weightKey(v.originalName));
  const dup = keys.find((k, i) => keys.indexOf(k) !== i);
  if (dup) throw new UnsupportedLayerError(modelName, name, className, `it has two weights named ${dup}`);
  return { name, inputs, outputShape, op: 'layer', className, config, weights: weightsOf(layer), ...(reason ? { reason } : {}) };
}

/**
 * Dropout, the identity at inference whatever its noise shape (EfficientNet's
 * drop-connect: noise_shape (None, 1, 1, 1)); the noise shape is kept for
 * training. One entry per axis, batch included, each null, 1 or the axis' size.
 */
function dropoutNode(base: { name: string; inputs: string[]; outputShape: Shape }, config: Config, fail: (reason: string) => Error): GraphNode {
  const rate = num(config['rate']);
  const raw = config['noiseShape'];
  if (raw == null) return { ...base, op: 'dropout', rate };
  const dims = [null, ...base.outputShape];
  const fits = Array.isArray(raw) && raw.length === dims.length && raw.every((d, i) => d == null || d === 1 || d === dims[i]);
  if (!fits) throw fail(`noise_shape ${JSON.stringify(raw)} does not fit its input of shape [${base.outputShape.join(',')}] (one entry per axis, batch included: None, 1 or the axis' size)`);
  return { ...base, op: 'dropout', rate, noiseShape: (raw as (number | null)[]).map((d) => (d == null ? null : d)) };
}

/**
 * tfjs-layers never infers a Reshape's -1 (null) dimension symbolically (it
 * sees the unknown batch axis and gives up), so later layers such as Flatten
 * would fail: resolve it here and keep the resolved shape as the target.
 */
function reshapeNode(name: string, inputs: string[], inputShape: Shape, target: (number | null)[], fail: (reason: string) => Error): GraphNode {
  const size = inputShape.reduce((a, b) => a * b, 1);
  const known = target.reduce<number>((a, d) => (d == null || d < 0 ? a : a * d), 1);
  const unknown = target.filter((d) => d == null || d < 0).length;
  if (unknown > 1 || (unknown === 1 ? size % known !== 0 : size !== known)) {
    throw fail(`target shape [${target.map((d) => d ?? -1).join(',')}] does not fit an input of shape [${inputShape.join(',')}]`);
  }
  const resolved = target.map((d) => (d == null || d < 0 ? size / known : d));
  return { name, inputs, outputShape: resolved, op: 'reshape', targetShape: [...resolved] };
}

function shapeWithoutBatch(shape: tf.Shape | tf.Shape[], fail: () => Error): Shape {
  if (shape.length > 0 && Array.isArray(shape[0])) throw fail();
  const dims = (shape as tf.Shape).slice(1);
  if (dims.some((d) => d == null)) throw fail();
  return dims as number[];
}

/** The IR activation of a tfjs activation name (see tfjs-compat/activations.ts for the names). */
function activationOf(value: unknown, fail: (reason: string) => Error): LayerActivation {
  const name = value ?? 'linear';
  const activation = irActivation(name);
  if (activation) return activation;
  throw fail(`activation ${JSON.stringify(name)} (supported: ${TFJS_ACTIVATIONS.join(', ')})`);
}

function paddingOf(value: unknown, fail: (reason: string) => Error): Padding {
  if (value === 'valid' || value === 'same') return value;
  throw fail(`padding ${JSON.stringify(value)} (only valid or same)`);
}

/** The layer's weights keyed by Keras weight name ("kernel", "moving_mean"…), copied out. */
function weightsOf(layer: Layer): Record<string, WeightData> {
  // getWeights() returns the variables' own tensors: read them, never dispose them.
  const values = layer.getWeights();
  const out: Record<string, WeightData> = {};
  layer.weights.forEach((v, i) => {
    const t = values[i]!;
    out[weightKey(v.originalName)] = { shape: [...t.shape], values: new Float32Array(t.dataSync() as Float32Array) };
  });
  return out;
}

/** "kernel" from "dense/kernel", and from a nested layer's "sequential_1/dense/kernel" alike. */
function weightKey(variableName: string): string {
  return variableName.slice(variableName.lastIndexOf('/') + 1);
}

function withOptionalBias(kernel: WeightData | undefined, bias: WeightData | undefined, fail: (reason: string) => Error) {
  if (!kernel) throw fail('kernel weight is missing');
  return bias ? { kernel, bias } : { kernel };
}

// Graph → tfjs-layers lives in to-layers.ts.
export { layersModelFromGraph } from './to-layers.js';
