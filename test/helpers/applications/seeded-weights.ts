/**
 * Deterministic weights for the keras.applications builders.
 *
 * The choice, and why: kernels are He-uniform (limit sqrt(6 / fan_in)), so a
 * unit-variance input keeps roughly unit variance through a ReLU; BatchNorm
 * gamma is drawn in [0.9, 1.1] and beta in [-0.1, 0.1]; biases in [-0.05,
 * 0.05]. Random kernels alone still drift over 50-120 layers (residual sums
 * and concatenations grow, depthwise 3x3 kernels shrink), so the BatchNorm
 * moving statistics are then *calibrated*: one forward pass over a seeded
 * uniform [-1, 1] batch at the model's own input size, layer by layer in
 * topological order, sets each BatchNormalization's moving mean and variance
 * to the batch statistics of its input before that layer runs. Every BN output
 * is then about N(beta, gamma^2) per channel at any depth, so logits stay
 * finite and spread (std ~0.1-10) whatever the architecture, and a quantizer
 * sees ranges like a trained network's rather than blown-up or vanished ones.
 *
 * Every weight comes from its own mulberry32 stream seeded by (seed, layer
 * name, weight name): the same layer gets the same values in every
 * configuration (with or without the top, another width of head, etc.).
 */
import * as tf from '@tensorflow/tfjs';
import { mulberry32 } from '../../../src-main/io/data/split.js';

type Layer = tf.layers.Layer;
type LayerVariable = Layer['weights'][number];

/** FNV-1a over the text, mixed with the seed: the stream seed of one weight. */
function streamSeed(seed: number, text: string): number {
  let h = (0x811c9dc5 ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function uniform(n: number, lo: number, hi: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rand();
  return out;
}

/** A seeded uniform [-1, 1) batch of the given shape (the calibration and test input). */
export function seededInput(shape: number[], seed: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(uniform(n, -1, 1, streamSeed(seed, 'input')), shape, 'float32');
}

/** The weight's own name ('kernel', 'gamma', 'moving_mean', ...) without the layer scope. */
function shortName(v: LayerVariable): string {
  const parts = v.originalName.split('/');
  return parts[parts.length - 1]!;
}

function fanIn(name: string, shape: number[]): number {
  // Conv2D [kh, kw, in, out]; DepthwiseConv2D [kh, kw, in, multiplier] (each
  // output sees one input channel); Dense [in, out].
  if (name === 'depthwise_kernel') return shape[0]! * shape[1]!;
  return shape.slice(0, -1).reduce((a, b) => a * b, 1);
}

/** Values for one weight, by its role. */
function values(v: LayerVariable, seed: number): Float32Array | null {
  const name = shortName(v);
  const shape = v.shape as number[];
  const n = shape.reduce((a, b) => a * b, 1);
  switch (name) {
    case 'kernel':
    case 'depthwise_kernel': {
      const limit = Math.sqrt(6 / fanIn(name, shape));
      return uniform(n, -limit, limit, seed);
    }
    case 'bias':
      return uniform(n, -0.05, 0.05, seed);
    case 'gamma':
      return uniform(n, 0.9, 1.1, seed);
    case 'beta':
      return uniform(n, -0.1, 0.1, seed);
    case 'moving_mean':
      return new Float32Array(n); // replaced by the calibration pass
    case 'moving_variance':
      return new Float32Array(n).fill(1);
    // keras Normalization left un-adapted, as weights=None leaves it: identity.
    case 'mean':
      return new Float32Array(n);
    case 'variance':
      return new Float32Array(n).fill(1);
    case 'count':
      return null; // an integer bookkeeping scalar: left as built (zero)
    default:
      throw new Error(`seedWeights: no rule for weight ${v.originalName} (${name})`);
  }
}

/** Writes seeded values into every weight of one (built) layer; no calibration. */
export function seedLayer(layer: Layer, seed: number): void {
  for (const v of layer.weights) {
    const data = values(v, streamSeed(seed, v.originalName));
    if (data === null) continue;
    const t = tf.tensor(data, v.shape as number[], 'float32');
    v.write(t);
    t.dispose();
  }
}

/** Writes seeded values into every weight of the model, then calibrates its BatchNorms. */
export function seedWeights(model: tf.LayersModel, seed: number, calibrationBatch = 4): void {
  for (const layer of model.layers) seedLayer(layer, seed);
  const shape = model.inputs[0]!.shape.slice(1) as number[];
  const x = seededInput([calibrationBatch, ...shape], streamSeed(seed, 'calibration'));
  calibrateBatchNorm(model, x);
  x.dispose();
}

function weightNamed(layer: Layer, name: string): LayerVariable {
  const v = layer.weights.find((w) => shortName(w) === name);
  if (!v) throw new Error(`layer ${layer.name} has no weight ${name}`);
  return v;
}

/**
 * One inference pass over `x`, layer by layer: each BatchNormalization first
 * takes its input's per-channel batch mean and variance as its moving
 * statistics, then runs. Intermediate values are freed once their last
 * consumer has run. Works on flat functional models (every layer called once).
 */
export function calibrateBatchNorm(model: tf.LayersModel, x: tf.Tensor): void {
  const remaining = new Map<number, number>();
  for (const layer of model.layers) {
    if (layer.inboundNodes.length !== 1) throw new Error(`calibrateBatchNorm: layer ${layer.name} is called ${layer.inboundNodes.length} times; only flat functional models are supported`);
    for (const t of layer.inboundNodes[0]!.inputTensors) remaining.set(t.id, (remaining.get(t.id) ?? 0) + 1);
  }
  const value = new Map<number, tf.Tensor>([[model.inputs[0]!.id, x]]);
  for (const layer of model.layers) {
    const node = layer.inboundNodes[0]!;
    if (layer.getClassName() === 'InputLayer') continue;
    const inputs = node.inputTensors.map((t) => {
      const v = value.get(t.id);
      if (!v) throw new Error(`calibrateBatchNorm: no value for the input of ${layer.name}`);
      return v;
    });
    if (layer.getClassName() === 'BatchNormalization') {
      const input = inputs[0]!;
      tf.tidy(() => {
        const axes = [...Array(input.rank - 1).keys()]; // all but the channel axis
        const { mean, variance } = tf.moments(input, axes);
        weightNamed(layer, 'moving_mean').write(mean);
        weightNamed(layer, 'moving_variance').write(variance);
      });
    }
    const out = tf.tidy(() => layer.apply(inputs.length === 1 ? inputs[0]! : inputs, { training: false }) as tf.Tensor);
    value.set(node.outputTensors[0]!.id, out);
    for (const t of node.inputTensors) {
      const left = remaining.get(t.id)! - 1;
      remaining.set(t.id, left);
      if (left === 0 && t.id !== model.inputs[0]!.id) {
        value.get(t.id)!.dispose();
        value.delete(t.id);
      }
    }
  }
  for (const [id, t] of value) if (id !== model.inputs[0]!.id) t.dispose();
}
