/**
 * Executes a Graph with raw tf ops, holding its weights as tf.Variables.
 *
 * Quantization plugs in through ForwardHooks without the runtime knowing about
 * it: a weight hook sees each kernel/bias before use (to fake-quantize it), an
 * output hook sees each node's output after its activation (to observe or
 * fake-quantize activations). Training mode enables dropout and batch
 * statistics in BatchNormalization, whose moving statistics are then updated
 * as Keras does: moving = moving·momentum + batch·(1 − momentum), with the
 * biased batch variance (tfjs-layers and Keras 3 agree on this).
 *
 * Opaque 'layer' nodes (classes the IR does not model) run as tfjs-layers
 * layers: each is rebuilt once from its class name and config, and its own
 * LayerVariables' tf.Variables ARE the runtime's variables for that node
 * (written once from the graph's weights). layer.apply on concrete tensors
 * reads those variables, so the tape records them: gradients reach them and
 * optimizers given trainableVariables() update exactly what the layer uses.
 * Which of its weights train is the layer's own decision (Keras trainable
 * weights; none when its config says trainable: false). The weight hook never
 * sees an opaque layer's weights (they stay float); the output hook does.
 */
import { tf } from '../tfjs.js';
import { activate } from './activations.js';
import { buildOpaqueLayer } from './opaque-layer.js';
import type { AffineNode, BatchNormNode, Crop2DNode, Graph, GraphNode, OpaqueLayerNode, WeightData, WeightedNode } from './types.js';
import { inputNode, isWeighted, nodeByName } from './types.js';

export { activate } from './activations.js';

export type HookedWeight = 'kernel' | 'bias';

export interface ForwardHooks {
  /** Called on a kernel or bias before it is used; returns the tensor to use instead. */
  weight?(node: WeightedNode, weightName: HookedWeight, w: tf.Tensor): tf.Tensor;
  /** Called on every node's output (the input node included), after its activation. */
  output?(node: GraphNode, y: tf.Tensor): tf.Tensor;
}

export interface ApplyOptions {
  /** Dropout active, BatchNormalization uses and updates batch statistics. Default false. */
  training?: boolean;
  hooks?: ForwardHooks;
  /**
   * With training: BatchNormalization uses (and no longer updates) its moving
   * statistics, as after QAT's BatchNorm freeze; dropout stays active.
   */
  freezeBatchNorm?: boolean;
  /**
   * Return logits: when the output node applies softmax (see logitsOf), skip
   * that softmax and also the output hook on that node (an activation quantizer
   * calibrated on probabilities must not clip logits). No effect otherwise.
   */
  logits?: boolean;
}

export interface LogitsInfo {
  /** The output node ends in softmax, so the model outputs probabilities. */
  appliesSoftmax: boolean;
  /** 'fused': softmax is the output Dense/Conv's own activation; 'layer': a standalone Activation('softmax'). */
  where: 'fused' | 'layer' | null;
}

/** Whether the graph's output is a softmax, so losses can ask for logits instead. */
export function logitsOf(graph: Graph): LogitsInfo {
  const out = nodeByName(graph, graph.output);
  if (out.op === 'activation' && out.activation === 'softmax') return { appliesSoftmax: true, where: 'layer' };
  if (isWeighted(out) && out.activation === 'softmax') return { appliesSoftmax: true, where: 'fused' };
  return { appliesSoftmax: false, where: null };
}

export interface WeightVariable {
  node: string;
  /** IR weight name: kernel, bias, gamma, beta, movingMean, movingVariance; an opaque layer's Keras weight names. */
  weight: string;
  variable: tf.Variable;
}

const TRAINABLE_WEIGHTS = new Set(['kernel', 'bias', 'gamma', 'beta']);

export class GraphRuntime {
  readonly graph: Graph;
  readonly logitsOf: LogitsInfo;
  private readonly vars = new Map<string, Record<string, tf.Variable>>();
  /** The tfjs layer of each opaque node, built and holding the runtime's variables for it. */
  private readonly layers = new Map<string, tf.layers.Layer>();
  private disposed = false;

  constructor(graph: Graph, opts: { trainable?: boolean } = {}) {
    this.graph = graph;
    this.logitsOf = logitsOf(graph);
    inputNode(graph);
    nodeByName(graph, graph.output);
    const trainable = opts.trainable ?? true;
    const shapes = new Map(graph.nodes.map((n) => [n.name, n.outputShape]));
    for (const node of graph.nodes) {
      if (node.op === 'layer') {
        this.vars.set(node.name, this.buildLayer(node, node.inputs.map((i) => shapes.get(i)!), trainable));
        continue;
      }
      if (!('weights' in node)) continue;
      const record: Record<string, tf.Variable> = {};
      for (const [key, data] of Object.entries(node.weights) as [string, WeightData | undefined][]) {
        if (!data) continue;
        // Copy: on the cpu backend a tensor may adopt the array it is given.
        const init = tf.tensor(data.values.slice(), data.shape, 'float32');
        record[key] = tf.variable(init, trainable && TRAINABLE_WEIGHTS.has(key));
        init.dispose();
      }
      this.vars.set(node.name, record);
    }
  }

  /**
   * Builds the opaque node's tfjs layer on symbolic inputs of the graph's
   * shapes (as tf.loadLayersModel does), writes the graph's weights into its
   * variables and returns those variables by weight name.
   */
  private buildLayer(node: OpaqueLayerNode, inputShapes: number[][], trainable: boolean): Record<string, tf.Variable> {
    const layer = buildOpaqueLayer(node.className, node.config, node.name);
    const inputs = inputShapes.map((shape) => tf.input({ shape }));
    const out = layer.apply(inputs.length === 1 ? inputs[0]! : inputs);
    if (Array.isArray(out)) throw new Error(`layer ${node.name} (${node.className}) gives several outputs; only single-output layers are supported`);
    const got = (out as tf.SymbolicTensor).shape.slice(1);
    if (got.length !== node.outputShape.length || got.some((d, i) => d !== node.outputShape[i])) {
      throw new Error(`layer ${node.name} (${node.className}) gives shape [${got.join(',')}] but the graph says [${node.outputShape.join(',')}]`);
    }
    const keys = layer.weights.map((v) => v.originalName.slice(v.originalName.lastIndexOf('/') + 1));
    const missing = keys.filter((k) => !node.weights[k]);
    if (missing.length > 0 || keys.length !== Object.keys(node.weights).length) {
      throw new Error(`layer ${node.name} (${node.className}) has weights [${keys.join(', ')}] but the graph holds [${Object.keys(node.weights).join(', ')}]`);
    }
    // Copy: on the cpu backend a tensor may adopt the array it is given.
    const values = keys.map((k) => tf.tensor(node.weights[k]!.values.slice(), node.weights[k]!.shape, 'float32'));
    layer.setWeights(values);
    tf.dispose(values);
    this.layers.set(node.name, layer);
    const trainableWeights = new Set(layer.trainable ? layer.trainableWeights : []);
    const record: Record<string, tf.Variable> = {};
    layer.weights.forEach((lv, i) => {
      // LayerVariable.read() returns the tf.Variable itself, the one layer.call reads.
      const v = lv.read() as tf.Variable;
      v.trainable = trainable && trainableWeights.has(lv);
      record[keys[i]!] = v;
    });
    return record;
  }

  /** The output node's tensor; the caller disposes it. */
  apply(x: tf.Tensor, opts: ApplyOptions = {}): tf.Tensor {
    const output = this.graph.output;
    return tf.tidy(() => this.forward(x, opts).get(output)!);
  }

  /** Every node's output by node name (for per-layer metrics); the caller disposes them. */
  applyAll(x: tf.Tensor, opts: ApplyOptions = {}): Map<string, tf.Tensor> {
    const names = this.graph.nodes.map((n) => n.name);
    const tensors = tf.tidy(() => {
      const outs = this.forward(x, opts);
      return names.map((n) => outs.get(n)!);
    });
    return new Map(names.map((n, i) => [n, tensors[i]!]));
  }

  /** Kernels, biases, gammas and betas (empty when built with trainable: false); pass as varList to optimizers. */
  trainableVariables(): tf.Variable[] {
    return this.weightVariables()
      .map((w) => w.variable)
      .filter((v) => v.trainable);
  }

  /** All variables, moving statistics included, in graph order. */
  weightVariables(): WeightVariable[] {
    const out: WeightVariable[] = [];
    for (const [node, record] of this.vars) for (const [weight, variable] of Object.entries(record)) out.push({ node, weight, variable });
    return out;
  }

  /** A copy of the graph holding the variables' current values. */
  toGraph(): Graph {
    this.assertAlive();
    const nodes = this.graph.nodes.map((node) => {
      if (!('weights' in node)) return structuredClone(node);
      const { weights: _old, ...rest } = node;
      const weights: Record<string, WeightData> = {};
      for (const [key, v] of Object.entries(this.vars.get(node.name)!)) {
        weights[key] = { shape: [...v.shape], values: new Float32Array(v.dataSync() as Float32Array) };
      }
      return { ...structuredClone(rest), weights } as GraphNode;
    });
    return { name: this.graph.name, nodes, output: this.graph.output };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const record of this.vars.values()) for (const v of Object.values(record)) if (!v.isDisposed) v.dispose();
    this.vars.clear();
    this.layers.clear();
  }

  private assertAlive(): void {
    if (this.disposed) throw new Error(`runtime for graph ${this.graph.name} was disposed`);
  }

  /** Runs every node; call inside tf.tidy. */
  private forward(x: tf.Tensor, opts: ApplyOptions): Map<string, tf.Tensor> {
    this.assertAlive();
    const expected = inputNode(this.graph).outputShape;
    const got = x.shape.slice(1);
    if (got.length !== expected.length || got.some((d, i) => d !== expected[i])) {
      throw new Error(`graph ${this.graph.name} expects inputs of shape [batch,${expected.join(',')}] but got [${x.shape.join(',')}]`);
    }
    const hooks = opts.hooks ?? {};
    const training = opts.training ?? false;
    const bnTraining = training && !opts.freezeBatchNorm;
    const outs = new Map<string, tf.Tensor>();
    for (const node of this.graph.nodes) {
      const logitsHere = !!opts.logits && node.name === this.graph.output && this.logitsOf.appliesSoftmax;
      const args = node.inputs.map((name) => outs.get(name)!);
      let y: tf.Tensor;
      if (node.op === 'input') {
        // A clone, so that disposing applyAll's results never disposes the caller's x.
        y = x.clone();
      } else if (logitsHere && node.op === 'activation') {
        y = args[0]!;
      } else {
        y = this.run(node, args, training, bnTraining, hooks, logitsHere);
      }
      if (hooks.output && !logitsHere) y = hooks.output(node, y);
      outs.set(node.name, y);
    }
    return outs;
  }

  private run(node: Exclude<GraphNode, { op: 'input' }>, args: tf.Tensor[], training: boolean, bnTraining: boolean, hooks: ForwardHooks, logits: boolean): tf.Tensor {
    const x = args[0]!;
    switch (node.op) {
      case 'dense':
      case 'conv2d':
      case 'depthwiseConv2d': {
        const kernel = this.hookedWeight(node, 'kernel', hooks)!;
        const bias = this.hookedWeight(node, 'bias', hooks);
        let y = linearOp(node, x, kernel);
        if (bias) y = tf.add(y, bias);
        return activate(y, logits ? 'linear' : node.activation);
      }
      case 'batchNorm':
        return this.batchNorm(node, x, bnTraining);
      case 'activation':
        return activate(x, node.activation, node.alpha);
      case 'maxPool2d':
        return tf.maxPool(x as tf.Tensor4D, node.poolSize, node.strides, node.padding);
      case 'avgPool2d':
        return tf.avgPool(x as tf.Tensor4D, node.poolSize, node.strides, node.padding);
      case 'globalAvgPool2d':
        return tf.mean(x, [1, 2], !!node.keepdims);
      case 'globalMaxPool2d':
        return tf.max(x, [1, 2], !!node.keepdims);
      case 'zeroPad2d':
        return tf.pad(x, [[0, 0], node.padding[0], node.padding[1], [0, 0]]);
      case 'crop2d':
        return crop(node, x);
      case 'upSample2d':
        // What tfjs-layers' UpSampling2D calls; for whole factors it repeats each pixel.
        return tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [x.shape[1]! * node.size[0], x.shape[2]! * node.size[1]]);
      case 'multiply':
        return multiply(args);
      case 'affine':
        return affine(node, x);
      case 'flatten':
        return tf.reshape(x, [x.shape[0]!, -1]);
      case 'reshape':
        // outputShape has the inferred (-1) dimension resolved.
        return tf.reshape(x, [x.shape[0]!, ...node.outputShape]);
      case 'dropout':
        // tf.dropout reads null in a noise shape as that axis' size.
        return training && node.rate > 0 ? tf.dropout(x, node.rate, node.noiseShape as number[] | undefined) : x;
      case 'add':
        // Left to right, as tfjs-layers' Add does, so results match bit for bit.
        return args.slice(1).reduce((sum, t) => tf.add(sum, t), x);
      case 'concat':
        return tf.concat(args, node.axis);
      case 'layer': {
        // A BatchNormalization the IR could not take still follows freezeBatchNorm.
        const layerTraining = node.className === 'BatchNormalization' ? bnTraining : training;
        const y = this.layers.get(node.name)!.apply(args.length === 1 ? x : args, { training: layerTraining });
        if (Array.isArray(y)) throw new Error(`layer ${node.name} (${node.className}) gave several outputs`);
        return y as tf.Tensor;
      }
    }
  }

  private hookedWeight(node: WeightedNode, name: HookedWeight, hooks: ForwardHooks): tf.Tensor | undefined {
    const v = this.vars.get(node.name)![name];
    if (!v) return undefined;
    return hooks.weight ? hooks.weight(node, name, v) : v;
  }

  private batchNorm(node: BatchNormNode, x: tf.Tensor, training: boolean): tf.Tensor {
    const w = this.vars.get(node.name)!;
    const gamma = w['gamma'];
    const beta = w['beta'];
    const movingMean = w['movingMean']!;
    const movingVariance = w['movingVariance']!;
    if (!training) return tf.batchNorm(x, movingMean, movingVariance, beta, gamma, node.epsilon);
    const axes = x.shape.map((_, i) => i).slice(0, -1);
    const { mean, variance } = tf.moments(x, axes);
    const m = node.momentum;
    // Assignments are not differentiable, so these updates stay out of any gradient.
    movingMean.assign(tf.add(tf.mul(movingMean, m), tf.mul(mean, 1 - m)));
    movingVariance.assign(tf.add(tf.mul(movingVariance, m), tf.mul(variance, 1 - m)));
    return tf.batchNorm(x, mean, variance, beta, gamma, node.epsilon);
  }
}

/** The layer's linear part, x ∗ kernel (no bias, no activation). */
export function linearOp(node: WeightedNode, x: tf.Tensor, kernel: tf.Tensor): tf.Tensor {
  switch (node.op) {
    case 'dense': {
      if (x.rank === 2) return tf.matMul(x as tf.Tensor2D, kernel as tf.Tensor2D);
      // Keras Dense acts on the last axis of higher-rank inputs.
      const lead = x.shape.slice(0, -1);
      const flat = tf.reshape(x, [-1, x.shape[x.rank - 1]!]) as tf.Tensor2D;
      return tf.reshape(tf.matMul(flat, kernel as tf.Tensor2D), [...lead, node.units]);
    }
    case 'conv2d':
      return tf.conv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, node.strides, node.padding, 'NHWC', node.dilation);
    case 'depthwiseConv2d':
      return tf.depthwiseConv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, node.strides, node.padding, 'NHWC', node.dilation);
  }
}

function crop(node: Crop2DNode, x: tf.Tensor): tf.Tensor {
  const [[top, bottom], [left, right]] = node.cropping;
  return tf.slice(x, [0, top, left, 0], [-1, x.shape[1]! - top - bottom, x.shape[2]! - left - right, -1]);
}

/**
 * Keras' Multiply: an input of lower rank gets unit axes inserted after the
 * batch axis until the ranks agree, then the product broadcasts, taken left
 * to right as tfjs-layers does.
 */
function multiply(args: tf.Tensor[]): tf.Tensor {
  const rank = Math.max(...args.map((t) => t.rank));
  const same = args.map((t) => {
    let y = t;
    while (y.rank < rank) y = tf.expandDims(y, 1);
    return y;
  });
  return same.slice(1).reduce((acc, t) => tf.mul(acc, t), same[0]!);
}

/** x·scale + offset on the last axis, in the order of tfjs's Rescaling. */
function affine(node: AffineNode, x: tf.Tensor): tf.Tensor {
  const vector = (v: number[]) => (v.length === 1 ? tf.scalar(v[0]!) : tf.tensor1d(v));
  return tf.add(tf.mul(x, vector(node.scale)), vector(node.offset));
}
