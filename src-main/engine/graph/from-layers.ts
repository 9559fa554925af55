/**
 * Conversion between tfjs-layers models and the studio's Graph IR.
 *
 * graphFromLayersModel walks the model's symbolic tensors from its output back
 * to its input (so layers reused across models or unused branches do not
 * confuse it), converts each layer by class name, and copies the weights out as
 * Float32Arrays. A layer the IR does not model (its class, or one of its
 * options) becomes an opaque 'layer' node holding its class name, tfjs config
 * and weights, provided tfjs-layers can rebuild it from those (see
 * buildOpaqueLayer); the planner then stops or keeps it float. Only a layer
 * tfjs cannot rebuild, or a structure the IR cannot hold (several inputs or
 * outputs, shared layers, unknown dimensions), throws. layersModelFromGraph
 * rebuilds an equivalent functional model, used for TF.js export and as the
 * reference in tests.
 */
import * as tf from '@tensorflow/tfjs';
import type {
  Activation,
  Graph,
  GraphNode,
  OpaqueLayerNode,
  Padding,
  Shape,
  WeightData,
} from './types.js';

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
  'Flatten',
  'Reshape',
  'Dropout',
  'Add',
  'Concatenate',
] as const;

const ACTIVATIONS: readonly Activation[] = ['linear', 'relu', 'relu6', 'sigmoid', 'tanh', 'softmax'];

// ---------------------------------------------------------------------------
// tfjs-layers → Graph

export function graphFromLayersModel(model: tf.LayersModel): Graph {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new UnsupportedModelError(
      model.name,
      `model ${model.name} has ${model.inputs.length} inputs and ${model.outputs.length} outputs; only single-input single-output models are supported`,
    );
  }
  const reached = reachableLayers(model);
  const shapes = new Map<string, Shape>();
  const nodes = orderLayers(model, reached).map(({ layer, inputs }) => {
    const node = nodeFromLayer(model.name, layer, inputs, inputs.map((i) => shapes.get(i)!));
    shapes.set(node.name, node.outputShape);
    return node;
  });
  if (nodes[0]?.op !== 'input') throw new UnsupportedModelError(model.name, `model ${model.name} does not start with an input layer`);
  return { name: model.name, nodes, output: model.outputs[0]!.sourceLayer.name };
}

interface Reached {
  layer: Layer;
  inputs: string[];
}

/** Layers on the path from the model input to its output, with their inbound layer names. */
function reachableLayers(model: tf.LayersModel): Map<string, Reached> {
  const seen = new Map<string, Reached & { nodeIndex: number }>();
  const stack: tf.SymbolicTensor[] = [model.outputs[0]!];
  while (stack.length > 0) {
    const t = stack.pop()!;
    const layer = t.sourceLayer;
    const prior = seen.get(layer.name);
    if (prior) {
      if (prior.nodeIndex !== t.nodeIndex) {
        throw new UnsupportedLayerError(model.name, layer.name, layer.getClassName(), 'the layer is called more than once (shared layers are not supported)');
      }
      continue;
    }
    if (t.tensorIndex !== 0) {
      throw new UnsupportedLayerError(model.name, layer.name, layer.getClassName(), 'layers with several outputs are not supported');
    }
    const node = layer.inboundNodes[t.nodeIndex]!;
    const inputs = layer.getClassName() === 'InputLayer' ? [] : node.inputTensors;
    seen.set(layer.name, { layer, inputs: inputs.map((i) => i.sourceLayer.name), nodeIndex: t.nodeIndex });
    stack.push(...inputs);
  }
  return seen;
}

/**
 * Order as model.layers (Keras's summary order, topological since tfjs sorts by
 * depth); Sequential models leave their InputLayer out of model.layers, so it
 * goes first. Falls back to a depth-first order if the listing is not topological.
 */
function orderLayers(model: tf.LayersModel, reached: Map<string, Reached>): Reached[] {
  const listed = [model.inputs[0]!.sourceLayer, ...model.layers.filter((l) => l !== model.inputs[0]!.sourceLayer)];
  const ordered = listed.flatMap((l) => {
    const r = reached.get(l.name);
    return r && r.layer === l ? [r] : [];
  });
  if (ordered.length === reached.size && isTopological(ordered)) return ordered;
  return depthFirstOrder(reached, model.outputs[0]!.sourceLayer.name);
}

function isTopological(ordered: Reached[]): boolean {
  const done = new Set<string>();
  for (const r of ordered) {
    if (!r.inputs.every((i) => done.has(i))) return false;
    done.add(r.layer.name);
  }
  return true;
}

function depthFirstOrder(reached: Map<string, Reached>, output: string): Reached[] {
  const out: Reached[] = [];
  const done = new Set<string>();
  const visit = (name: string): void => {
    if (done.has(name)) return;
    done.add(name);
    const r = reached.get(name)!;
    r.inputs.forEach(visit);
    out.push(r);
  };
  visit(output);
  return out;
}

function nodeFromLayer(modelName: string, layer: Layer, inputs: string[], inputShapes: Shape[]): GraphNode {
  const className = layer.getClassName();
  const config = layer.getConfig() as Config;
  const name = layer.name;
  const unsupported = (reason?: string) => new UnsupportedLayerError(modelName, name, className, reason);
  if (className === 'Reshape') return reshapeNode(name, inputs, inputShapes[0]!, config['targetShape'] as (number | null)[], unsupported);
  const outputShape = shapeWithoutBatch(layer.outputShape, () => unsupported('its output shape has unknown dimensions (give the model a fixed input shape)'));
  try {
    return modelledNode(layer, className, config, { name, inputs, outputShape }, unsupported);
  } catch (e) {
    // The IR does not model this class or one of its options: keep the layer as tfjs builds it.
    if (e instanceof UnsupportedLayerError && e.layerName === name) return opaqueNode(modelName, layer, inputs, outputShape, e.reason);
    throw e;
  }
}

/** The IR node of a class the IR models; throws an UnsupportedLayerError (from `unsupported`) for a class or option it does not. */
function modelledNode(
  layer: Layer,
  className: string,
  config: Config,
  base: { name: string; inputs: string[]; outputShape: Shape },
  unsupported: (reason?: string) => UnsupportedLayerError,
): GraphNode {
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
      channelsLast();
      if (outputShape.length !== 1) throw unsupported('keepdims is not supported');
      return { ...base, op: 'globalAvgPool2d' };
    case 'Flatten':
      channelsLast();
      return { ...base, op: 'flatten' };
    case 'Dropout':
      if (config['noiseShape'] != null) throw unsupported('noise_shape is not supported');
      return { ...base, op: 'dropout', rate: num(config['rate']) };
    case 'Add':
      return { ...base, op: 'add' };
    case 'Concatenate':
      return { ...base, op: 'concat', axis: num(config['axis'] ?? -1) };
    default:
      throw unsupported();
  }
}

/**
 * An opaque node for a layer tfjs-layers built but the IR does not model.
 * Checks here, at import, that tfjs can rebuild the layer from the stored
 * class name and JSON config, so the runtime and the writer cannot fail later.
 */
function opaqueNode(modelName: string, layer: Layer, inputs: string[], outputShape: Shape, reason: string | undefined): OpaqueLayerNode {
  const className = layer.getClassName();
  const config = JSON.parse(JSON.stringify(layer.getConfig())) as Config;
  try {
    // Unbuilt, it holds no tensors: nothing to dispose.
    buildOpaqueLayer(className, config, layer.name);
  } catch (e) {
    throw new UnsupportedLayerError(modelName, layer.name, className, `TensorFlow.js cannot rebuild it from its config (${(e as Error).message})`);
  }
  const keys = layer.weights.map((v) => weightKey(v.originalName));
  const dup = keys.find((k, i) => keys.indexOf(k) !== i);
  if (dup) throw new UnsupportedLayerError(modelName, layer.name, className, `it has two weights named ${dup}`);
  return { name: layer.name, inputs, outputShape, op: 'layer', className, config, weights: weightsOf(layer), ...(reason ? { reason } : {}) };
}

/**
 * A new, unbuilt tfjs-layers layer of `className` from its tfjs config (as
 * layer.getConfig() gives it), the way tf.loadLayersModel deserialises each
 * layer: through the class registry tf.serialization.SerializationMap and the
 * class's fromConfig. `name` overrides the config's name.
 */
export function buildOpaqueLayer(className: string, config: Record<string, unknown>, name: string): Layer {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  if (!entry) throw new Error(`TensorFlow.js has no layer class ${className}`);
  const [cls, fromConfig] = entry;
  // fromConfig may keep references into the config: give it a copy.
  const layer = fromConfig(cls, { ...structuredClone(config), name }) as unknown;
  if (!(layer instanceof tf.layers.Layer)) throw new Error(`${className} is not a layer class`);
  return layer;
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

function activationOf(value: unknown, fail: (reason: string) => Error): Activation {
  const name = value ?? 'linear';
  if (typeof name === 'string' && (ACTIVATIONS as readonly string[]).includes(name)) return name as Activation;
  throw fail(`activation ${JSON.stringify(name)} (supported: ${ACTIVATIONS.join(', ')})`);
}

function paddingOf(value: unknown, fail: (reason: string) => Error): Padding {
  if (value === 'valid' || value === 'same') return value;
  throw fail(`padding ${JSON.stringify(value)} (only valid or same)`);
}

function pair(value: unknown): [number, number] {
  if (typeof value === 'number') return [value, value];
  const arr = value as number[];
  return [arr[0]!, arr[1] ?? arr[0]!];
}

function num(value: unknown): number {
  if (typeof value !== 'number') throw new Error(`expected a number in the layer config, got ${JSON.stringify(value)}`);
  return value;
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

function weightKey(variableName: string): string {
  return variableName.slice(variableName.lastIndexOf('/') + 1);
}

function withOptionalBias(kernel: WeightData | undefined, bias: WeightData | undefined, fail: (reason: string) => Error) {
  if (!kernel) throw fail('kernel weight is missing');
  return bias ? { kernel, bias } : { kernel };
}

// ---------------------------------------------------------------------------
// Graph → tfjs-layers

/** A functional tfjs-layers model equivalent to the graph, holding copies of its weights. */
export function layersModelFromGraph(graph: Graph): tf.LayersModel {
  const tensors = new Map<string, tf.SymbolicTensor>();
  const layers: [Layer, GraphNode][] = [];
  let input: tf.SymbolicTensor | undefined;
  for (const node of graph.nodes) {
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
    const layer = layerForNode(node);
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
      return tf.layers.dense({ name, units: node.units, activation: node.activation, useBias: !!node.weights.bias, ...init });
    case 'conv2d':
      return tf.layers.conv2d({
        name,
        filters: node.filters,
        kernelSize: node.kernelSize,
        strides: node.strides,
        padding: node.padding,
        dilationRate: node.dilation,
        activation: node.activation,
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
        activation: node.activation,
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
      return tf.layers.activation({ name, activation: node.activation });
    case 'maxPool2d':
      return tf.layers.maxPooling2d({ name, poolSize: node.poolSize, strides: node.strides, padding: node.padding });
    case 'avgPool2d':
      return tf.layers.averagePooling2d({ name, poolSize: node.poolSize, strides: node.strides, padding: node.padding });
    case 'globalAvgPool2d':
      return tf.layers.globalAveragePooling2d({ name });
    case 'flatten':
      return tf.layers.flatten({ name });
    case 'reshape':
      // The output shape is the target with any -1 resolved (see reshapeNode).
      return tf.layers.reshape({ name, targetShape: [...node.outputShape] });
    case 'dropout':
      return tf.layers.dropout({ name, rate: node.rate });
    case 'add':
      return tf.layers.add({ name });
    case 'concat':
      return tf.layers.concatenate({ name, axis: node.axis });
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
    const key = weightKey(v.originalName);
    const data = graphWeightFor(node, key);
    if (!data) throw new Error(`layer ${node.name} has no ${key} weight in the graph`);
    // Copy: on the cpu backend a tensor may adopt the array it is given.
    return tf.tensor(data.values.slice(), data.shape, 'float32');
  });
  layer.setWeights(tensors);
  tf.dispose(tensors);
}
