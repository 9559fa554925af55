/**
 * What every keras.applications builder here shares: the options, Keras's
 * rounding and padding rules, Keras-style automatic layer names, and access
 * to the Keras classes tfjs-layers does not ship, which the engine registers
 * in tfjs's serialization map (src-main/engine/graph/tfjs-compat): Keras 3's
 * hard_swish and hard_sigmoid activations, Normalization, and global pooling
 * with keepdims.
 */
import * as tf from '@tensorflow/tfjs';
import '../../../src-main/engine/graph/tfjs-compat/index.js';
import { seedWeights } from './seeded-weights.js';

export interface ApplicationOptions {
  /** Width multiplier (MobileNet v1/v2/v3). Default 1. */
  alpha?: number;
  /**
   * Width of the architectures Keras builds at one width, for fast tests: the
   * same layers, names and connections with fewer channels. EfficientNetB0:
   * Keras's own width_coefficient (EfficientNet(width_coefficient=...)),
   * filters rounded to multiples of 8; ResNet50 and DenseNet121 (no such
   * Keras option): every filter count (DenseNet: the growth rate and the stem)
   * times this, rounded, at least 1. Default 1: Keras's models exactly.
   */
  width?: number;
  /** Input height and width (one number: square). Default 224. */
  inputSize?: number | [number, number];
  /** Default 1000. */
  classes?: number;
  /** The classifier head. Default true. */
  includeTop?: boolean;
  /** Without the head: pool the last feature map ('avg' / 'max') or not (null, the default). */
  pooling?: 'avg' | 'max' | null;
  /**
   * Weight seed (default 0). null keeps tfjs's own random initialisers and
   * skips the calibration pass: for building only (parameter counts).
   */
  seed?: number | null;
  /** Keras's classifier_activation; 'linear' gives logits. Default 'softmax'. */
  classifierActivation?: 'softmax' | 'linear';
  /** Model name; default the name Keras gives this configuration. */
  name?: string;
}

export interface Resolved {
  alpha: number;
  width: number;
  rows: number;
  cols: number;
  classes: number;
  includeTop: boolean;
  pooling: 'avg' | 'max' | null;
  seed: number | null;
  classifierActivation: 'softmax' | 'linear';
}

export function resolveOptions(o: ApplicationOptions = {}): Resolved {
  const size = o.inputSize ?? 224;
  const [rows, cols] = typeof size === 'number' ? [size, size] : size;
  // Keras's obtain_input_shape refuses anything under 32 px.
  if (!(rows! >= 32 && cols! >= 32)) throw new Error(`input size ${rows}x${cols}: keras.applications needs at least 32x32`);
  return {
    alpha: o.alpha ?? 1,
    width: o.width ?? 1,
    rows: rows!,
    cols: cols!,
    classes: o.classes ?? 1000,
    includeTop: o.includeTop ?? true,
    pooling: o.pooling ?? null,
    seed: o.seed === undefined ? 0 : o.seed,
    classifierActivation: o.classifierActivation ?? 'softmax',
  };
}

/**
 * Keras's _make_divisible (mobilenet_v2) / _depth (mobilenet_v3): round to the
 * nearest multiple of `divisor`, never below it and never more than 10% down.
 * Math.trunc of a positive float is Python's int().
 */
export function makeDivisible(v: number, divisor = 8, minValue = divisor): number {
  let out = Math.max(minValue, Math.trunc((v + divisor / 2) / divisor) * divisor);
  if (out < 0.9 * v) out += divisor;
  return out;
}

/**
 * imagenet_utils.correct_pad: the explicit zero padding a stride-2 'valid'
 * convolution needs to reproduce TensorFlow's 'same' (one pixel less at the
 * top/left when the side is even).
 */
export function correctPad(x: tf.SymbolicTensor, kernel: number): [[number, number], [number, number]] {
  const [h, w] = [x.shape[1], x.shape[2]];
  const adjust = h == null || w == null ? [1, 1] : [1 - (h % 2), 1 - (w % 2)];
  const c = Math.floor(kernel / 2);
  return [
    [c - adjust[0]!, c],
    [c - adjust[1]!, c],
  ];
}

/**
 * Keras names an unnamed layer after its class in snake case, numbering
 * repeats per class: 're_lu', 're_lu_1', ... (a fresh Keras session's names).
 * tfjs's own automatic names ('re_lu_ReLU3') depend on every layer created
 * before in the process, so the builders name every layer themselves.
 */
export class KerasNames {
  private readonly counts = new Map<string, number>();
  /** The next name for an unnamed layer of this snake-case class name. */
  next(base: string): string {
    const n = this.counts.get(base) ?? 0;
    this.counts.set(base, n + 1);
    return n === 0 ? base : `${base}_${n}`;
  }
}

function registered(className: string): boolean {
  return className in tf.serialization.SerializationMap.getMap().classNameMap;
}

/**
 * tfjs class names of what the engine registers: Keras 3's hard_swish and
 * hard_sigmoid (relu6(x + 3) / 6; tfjs's own 'hardSigmoid' is Keras 2's
 * clip(0.2x + 0.5)) activations, and the Normalization layer.
 */
export const HARD_SWISH = 'hardSwish';
export const HARD_SIGMOID = 'keras3HardSigmoid';
export const KERAS3_CLASSES = [HARD_SWISH, HARD_SIGMOID, 'Normalization'] as const;

/** Which of these classes are not (yet) registered with tf.serialization. */
export function missingClasses(names: readonly string[]): string[] {
  return names.filter((n) => !registered(n));
}

export function requireClasses(model: string, names: readonly string[]): void {
  const missing = missingClasses(names);
  if (missing.length > 0) {
    throw new Error(
      `${model} needs ${missing.join(', ')}, which tfjs-layers does not provide; import the engine module that registers them (tf.serialization.registerClass) first`,
    );
  }
}

/** An Activation layer for an activation the engine registers (HARD_SWISH, HARD_SIGMOID). */
export function activation(name: string, fn: string): tf.layers.Layer {
  return tf.layers.activation({ name, activation: fn as Parameters<typeof tf.layers.activation>[0]['activation'] });
}

/** A layer of a class registered with tf.serialization, built from its (camelCase) config. */
export function registeredLayer(className: string, config: Record<string, unknown>): tf.layers.Layer {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  if (!entry) throw new Error(`layer class ${className} is not registered with tf.serialization`);
  const [cls, fromConfig] = entry;
  return fromConfig(cls, config as tf.serialization.ConfigDict) as unknown as tf.layers.Layer;
}

/**
 * Keras 3's GlobalAveragePooling2D(keepdims=True), output [batch, 1, 1, C]:
 * the engine's registered GlobalAveragePooling2D (tfjs's own has no keepdims).
 */
export function globalAveragePoolKeepDims(x: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  const layer = registeredLayer('GlobalAveragePooling2D', { name, keepdims: true });
  const y = layer.apply(x) as tf.SymbolicTensor;
  if (y.shape.length !== 4) throw new Error('the registered GlobalAveragePooling2D ignores keepdims; the engine\'s tfjs-compat global-pooling class is needed');
  return y;
}

/** The functional model, its weights seeded (unless seed is null). */
/**
 * The top of ResNet50, DenseNet121 and EfficientNetB0 as Keras writes it:
 * `avg_pool` (+ `before` on the pooled tensor, e.g. EfficientNet's dropout)
 * and the `predictions` Dense, or only the pooling the options ask for.
 */
export function classifierTop(x: tf.SymbolicTensor, o: Resolved, before?: tf.layers.Layer): tf.SymbolicTensor {
  if (o.includeTop) {
    let pooled = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as tf.SymbolicTensor;
    if (before) pooled = before.apply(pooled) as tf.SymbolicTensor;
    return tf.layers.dense({ units: o.classes, activation: o.classifierActivation, name: 'predictions' }).apply(pooled) as tf.SymbolicTensor;
  }
  if (o.pooling === 'avg') return tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as tf.SymbolicTensor;
  if (o.pooling === 'max') return tf.layers.globalMaxPooling2d({ name: 'max_pool' }).apply(x) as tf.SymbolicTensor;
  return x;
}

export function finish(inputs: tf.SymbolicTensor, outputs: tf.SymbolicTensor, name: string, seed: number | null): tf.LayersModel {
  const model = tf.model({ inputs, outputs, name });
  if (seed !== null) seedWeights(model, seed);
  return model;
}

/** The pooling Keras applies when the top is left off. */
export function pool(x: tf.SymbolicTensor, pooling: 'avg' | 'max' | null, names: KerasNames, named?: { avg: string; max: string }): tf.SymbolicTensor {
  if (pooling === 'avg') return tf.layers.globalAveragePooling2d({ name: named?.avg ?? names.next('global_average_pooling2d') }).apply(x) as tf.SymbolicTensor;
  if (pooling === 'max') return tf.layers.globalMaxPooling2d({ name: named?.max ?? names.next('global_max_pooling2d') }).apply(x) as tf.SymbolicTensor;
  return x;
}

/** A filter count at `width` (ResNet50, DenseNet121): rounded, at least 1; exact at width 1. */
export function scaled(filters: number, width: number): number {
  return width === 1 ? filters : Math.max(1, Math.round(filters * width));
}

/** Python's f"{alpha:0.2f}" as Keras puts it in model names. */
export function alphaText(alpha: number): string {
  return alpha.toFixed(2);
}
