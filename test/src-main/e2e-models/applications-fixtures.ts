/**
 * The keras.applications models of the end-to-end test (applications.test.ts),
 * no test cases here: each architecture at a small width and resolution, plain
 * and nested as transfer learning and Teachable Machine nest them, its seeded
 * weights conditioned so quantization behaves as on a trained model, and a
 * dataset of its input size labelled by the float model itself.
 *
 * Why the conditioning. Seeded untrained networks (test/helpers/applications,
 * He-uniform kernels, BatchNorm calibrated to N(β, γ²) outputs with β≈0, γ≈1)
 * are chaotic: a perturbation far below 8-bit quantization noise changes most
 * top-1 decisions (measured at these sizes: quantized vs float top-1 0.3-0.6,
 * and onnxruntime against the studio's simulation of the same quantized model
 * only 0.95-0.98 in agreement, from rounding-level differences amplified), and
 * they put nearly every image in one class. A trained network does neither,
 * and the checks here (≥ 99% top-1 agreement of each runtime with the
 * simulation) assume it does not. So, before anything is written:
 *  - every BatchNormalization gets γ = 1, β = 2 and its moving statistics are
 *    recalibrated on the dataset's images (calibrateBatchNorm): its outputs are
 *    N(2, 1) per channel, where ReLU, ReLU6, swish and hard_swish are nearly
 *    linear, so perturbations no longer grow from layer to layer;
 *  - the classifier head is fit to the images as transfer learning and
 *    Teachable Machine train only the head: a nearest-class-mean classifier
 *    on the features the head sees, the classes being the ten prototypes the
 *    images are drawn from (logits scaled to a spread of about 4).
 * The labels written with the images are then the float model's own top-1 on
 * each (which is mostly its prototype): so float accuracy is 100% by
 * construction, quantized accuracy is the share of decisions quantization
 * keeps, and both mean something.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  calibrateBatchNorm,
  denseNet121,
  efficientNetB0,
  mobileNet,
  mobileNetV2,
  mobileNetV3Small,
  resNet50,
  teachableMachine,
  transferLearning,
  type ApplicationOptions,
} from '../../helpers/applications/index.js';
import { npyFile as npy } from '../../helpers/npy.js';

type Layer = tf.layers.Layer;

/** How the model wants its pixels: 'raw' 0-255 (MobileNetV3 and EfficientNet rescale them themselves), 'tf' scaled to [-1, 1]. */
export type InputMode = 'raw' | 'tf';

export interface Architecture {
  name: string;
  /** The keras.applications builder at this test's width (classes, input size, top and seed come from the caller). */
  build: (o: ApplicationOptions) => tf.LayersModel;
  size: number;
  input: InputMode;
  /**
   * Its Keras files hold the hard sigmoid as Keras's own MobileNetV3 builds it,
   * ReLU(6.0)(x + 3.0) * (1.0 / 6.0): Keras 3 operations or Keras 2 TFOpLambda
   * layers around a ReLU (keras-ops-fixtures.ts), where the tfjs model has one Activation.
   */
  kerasOps?: boolean;
}

/** The six of issue "Real mobile models" item 4, at widths and sizes that keep the test fast. */
export const ARCHITECTURES: Architecture[] = [
  // 40 px: odd feature-map sizes further down (5, 3), where correct_pad's asymmetric padding matters.
  { name: 'MobileNet', build: (o) => mobileNet({ alpha: 0.25, ...o }), size: 40, input: 'tf' },
  { name: 'MobileNetV2', build: (o) => mobileNetV2({ alpha: 0.35, ...o }), size: 32, input: 'tf' },
  { name: 'MobileNetV3Small', build: (o) => mobileNetV3Small({ alpha: 0.75, ...o }), size: 32, input: 'raw', kerasOps: true },
  { name: 'EfficientNetB0', build: (o) => efficientNetB0({ width: 0.25, ...o }), size: 32, input: 'raw' },
  { name: 'ResNet50', build: (o) => resNet50({ width: 0.125, ...o }), size: 32, input: 'tf' },
  { name: 'DenseNet121', build: (o) => denseNet121({ width: 0.25, ...o }), size: 32, input: 'tf' },
];

export const CLASSES = 10;
/** Noise around the prototypes, ± this many levels: small enough that the quantized model's decisions keep a margin. */
const NOISE = 12;

/** The dataset's preprocessing for the model's input mode (raw pixels as uint8 in x.npy). */
export function preprocessingOf(mode: InputMode): Record<string, unknown> {
  return mode === 'raw' ? { scale: 1 } : { scale: 1 / 127.5, offset: -1 };
}

/** The model inputs of uint8 pixels, as the dataset's preprocessing makes them. */
export function modelInput(pixels: Uint8Array, shape: number[], mode: InputMode): tf.Tensor {
  return tf.tidy(() => {
    const x = tf.tensor(pixels, shape, 'float32');
    return mode === 'raw' ? x : tf.sub(tf.div(x, 127.5), 1);
  });
}

/** A small LCG in [0, 1), deterministic across runs. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/**
 * `count` images of size×size×3 uint8: image n is prototype n mod 10 (a colour
 * and a low-frequency sine pattern of its own) plus uniform noise of ±NOISE.
 */
export function prototypeImages(count: number, size: number, seed: number): { pixels: Uint8Array; prototype: Int32Array } {
  const rand = lcg(seed);
  const prototypes = Array.from({ length: CLASSES }, () => {
    const colour = [rand(), rand(), rand()].map((v) => 40 + 175 * v);
    const freq = [1 + 3 * rand(), 1 + 3 * rand()];
    const phase = [2 * Math.PI * rand(), 2 * Math.PI * rand()];
    const amp = 30 + 50 * rand();
    return (y: number, x: number, c: number) => colour[c]! + amp * Math.sin((2 * Math.PI * freq[0]! * y) / size + phase[0]! + c) * Math.cos((2 * Math.PI * freq[1]! * x) / size + phase[1]!);
  });
  const pixels = new Uint8Array(count * size * size * 3);
  const prototype = new Int32Array(count);
  let i = 0;
  for (let n = 0; n < count; n++) {
    prototype[n] = n % CLASSES;
    const p = prototypes[n % CLASSES]!;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < 3; c++) pixels[i++] = Math.max(0, Math.min(255, Math.round(p(y, x, c) + NOISE * (2 * rand() - 1))));
      }
    }
  }
  return { pixels, prototype };
}

const shortName = (v: { originalName: string }) => v.originalName.slice(v.originalName.lastIndexOf('/') + 1);

/** γ = 1, β = 2 in every BatchNormalization of a flat functional model, then its moving statistics from `x` (see the module comment). */
export function positiveRegimeBatchNorm(model: tf.LayersModel, x: tf.Tensor): void {
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const values = layer.getWeights();
    const next = layer.weights.map((v, i) => (shortName(v) === 'gamma' ? tf.onesLike(values[i]!) : shortName(v) === 'beta' ? tf.fill(values[i]!.shape, 2) : values[i]!));
    layer.setWeights(next);
    tf.dispose(next.filter((t, i) => t !== values[i]));
  }
  calibrateBatchNorm(model, x);
}

const isWeighted = (l: Layer) => l.getClassName() === 'Dense' || l.getClassName() === 'Conv2D';

/** The last Dense / Conv2D of the model (inside its last nested model, if that is where the head is) and the features it reads for `x`. */
function headOf(model: tf.LayersModel, x: tf.Tensor): { head: Layer; features: tf.Tensor2D } {
  const last = model.layers[model.layers.length - 1]!;
  if (last instanceof tf.LayersModel) {
    // A nested model's call here is its last inbound node (its first is its own construction).
    const input = last.getInputAt(last.inboundNodes.length - 1) as tf.SymbolicTensor;
    const before = model.layers.length > 1 ? (tf.model({ inputs: model.inputs, outputs: input }).predict(x) as tf.Tensor) : x;
    try {
      return headOf(last, before);
    } finally {
      if (before !== x) before.dispose();
    }
  }
  const head = [...model.layers].reverse().find(isWeighted);
  if (!head) throw new Error(`model ${model.name} has no Dense or Conv2D head`);
  const features = tf.tidy(() => {
    const f = tf.model({ inputs: model.inputs, outputs: head.input as tf.SymbolicTensor }).predict(x) as tf.Tensor;
    return f.reshape([f.shape[0]!, -1]) as tf.Tensor2D;
  });
  return { head, features };
}

/**
 * Fits the head (the model's last Dense or 1×1 Conv2D) as a nearest-class-mean
 * classifier of the features it reads: logit_c = k·((h − μ)·(μ_c − μ) − |μ_c − μ|²/2)
 * (without the bias term when the head has none, as Teachable Machine's last Dense),
 * k giving the logits a standard deviation of 4.
 */
export function fitHead(model: tf.LayersModel, x: tf.Tensor, classOf: Int32Array): void {
  const { head, features } = headOf(model, x);
  const [kernel, bias] = head.getWeights();
  const next = tf.tidy(() => {
    const f = features.shape[1];
    const onehot = tf.oneHot(tf.tensor1d(classOf, 'int32'), CLASSES).toFloat();
    const means = tf.div(tf.matMul(onehot, features, true, false), tf.maximum(onehot.sum(0), 1).reshape([CLASSES, 1]));
    const mu = features.mean(0);
    const centred = tf.sub(means, mu); // [classes, f]
    const w = centred.transpose(); // [f, classes]
    const b = bias ? tf.sub(tf.mul(tf.sum(tf.square(centred), 1), -0.5), tf.matMul(mu.reshape([1, f]), w).reshape([CLASSES])) : tf.zeros([CLASSES]);
    const logits = tf.add(tf.matMul(features, w), b);
    const k = tf.div(4, tf.maximum(tf.sqrt(tf.moments(logits).variance), 1e-6));
    return [tf.mul(w, k).reshape(kernel!.shape), ...(bias ? [tf.mul(b, k)] : [])];
  });
  head.setWeights(next);
  tf.dispose([...next, features]);
}

export type Nesting = 'plain' | 'transfer' | 'teachable';
export const NESTINGS: Nesting[] = ['plain', 'transfer', 'teachable'];

/**
 * The architecture as `nesting` builds it, conditioned on `x` (see the module
 * comment): the model itself with its 10-class top; Keras transfer learning's
 * Sequential([base without top, GlobalAveragePooling2D, Dense(10, softmax)]);
 * Teachable Machine's Sequential of Sequentials around the base cut at its
 * last layer (see test/helpers/applications/nest.ts).
 */
export function buildModel(arch: Architecture, nesting: Nesting, x: tf.Tensor, classOf: Int32Array): tf.LayersModel {
  const base = arch.build({ inputSize: arch.size, classes: CLASSES, includeTop: nesting === 'plain', seed: 0 });
  positiveRegimeBatchNorm(base, x);
  const model = nesting === 'plain' ? base : nesting === 'transfer' ? transferLearning(base, CLASSES) : teachableMachine(base, CLASSES);
  fitHead(model, x, classOf);
  return model;
}


/** dir/x.npy (uint8 images) + dir/y.npy (int64 labels): one part, the studio's train and test split alike. */
export function writeNpyDataset(dir: string, pixels: Uint8Array, shape: number[], labels: ArrayLike<number>): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'x.npy'), npy('|u1', shape, pixels));
  writeFileSync(path.join(dir, 'y.npy'), npy('<i8', [labels.length], new Uint8Array(BigInt64Array.from(Array.from(labels), (v) => BigInt(v)).buffer)));
  return dir;
}
