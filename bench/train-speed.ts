/**
 * Training throughput per backend on an MNIST-sized CNN built from raw ops
 * (the way the studio builds QAT graphs): conv32-BN-relu-pool,
 * conv64-BN-relu-pool, dense128, dense10, softmax cross-entropy, SGD.
 * Switches the process's backend; run it in a process of its own.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src-main/engine/backend.js';

const BATCH = 64;
const CLASSES = 10;

interface Params { [name: string]: tf.Variable }

function makeParams(): Params {
  // Under tidy so the initial values are freed once the variables hold their own reference.
  return tf.tidy(() => {
    const he = (shape: number[], fanIn: number) => tf.variable(tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', 7));
    return {
      w1: he([3, 3, 1, 32], 9), g1: tf.variable(tf.ones([32])), b1: tf.variable(tf.zeros([32])),
      w2: he([3, 3, 32, 64], 288), g2: tf.variable(tf.ones([64])), b2: tf.variable(tf.zeros([64])),
      w3: he([7 * 7 * 64, 128], 3136), b3: tf.variable(tf.zeros([128])),
      w4: he([128, CLASSES], 128), b4: tf.variable(tf.zeros([CLASSES])),
    };
  });
}

function convBlock(x: tf.Tensor4D, w: tf.Variable, gamma: tf.Variable, beta: tf.Variable): tf.Tensor4D {
  const y = tf.conv2d(x, w as tf.Tensor4D, 1, 'same');
  const { mean, variance } = tf.moments(y, [0, 1, 2]);
  return tf.maxPool(tf.relu(tf.batchNorm(y, mean, variance, beta, gamma, 1e-3)) as tf.Tensor4D, 2, 2, 'valid');
}

function loss(p: Params, x: tf.Tensor4D, labels: tf.Tensor2D): tf.Scalar {
  const h = convBlock(convBlock(x, p.w1!, p.g1!, p.b1!), p.w2!, p.g2!, p.b2!);
  const flat = tf.reshape(h, [x.shape[0], -1]) as tf.Tensor2D;
  const hidden = tf.relu(tf.add(tf.matMul(flat, p.w3 as tf.Tensor2D), p.b3!));
  const logits = tf.add(tf.matMul(hidden, p.w4 as tf.Tensor2D), p.b4!);
  return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
}

/** Samples per second over `steps` timed steps after one warm-up step. */
async function measure(batch: number, steps: number): Promise<number> {
  const params = makeParams();
  const x = tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
  const labels = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % CLASSES), 'int32'), CLASSES, 1, 0, 'float32')) as tf.Tensor2D;
  const optimizer = tf.train.sgd(0.01);
  const step = async () => {
    const cost = optimizer.minimize(() => loss(params, x, labels), true);
    await cost?.data(); // wait for the step to finish, not just be queued
    cost?.dispose();
  };
  try {
    await step();
    const start = performance.now();
    for (let i = 0; i < steps; i++) await step();
    return (batch * steps) / ((performance.now() - start) / 1000);
  } finally {
    optimizer.dispose();
    tf.dispose([x, labels, ...Object.values(params)]);
  }
}

export async function benchTrainSpeed(): Promise<{ backend: string; samplesPerSecond: number }[]> {
  const results: { backend: string; samplesPerSecond: number }[] = [];
  // cpu runs this model at about one sample per second, so it gets a small batch and two steps.
  for (const [want, batch, steps] of [['wasm', BATCH, 8], ['cpu', 4, 2]] as const) {
    const info = await initBackend(want);
    if (info.name !== want) {
      // Timing batch-64 steps on a fallback could run for minutes; report the reason instead.
      console.log(`train-speed: ${want} unavailable (${info.fallbacks.find((f) => f.name === want)?.reason ?? 'unknown'}), skipped`);
      continue;
    }
    const samplesPerSecond = await measure(batch, steps);
    console.log(`train-speed: ${info.name} ${samplesPerSecond.toFixed(1)} samples/s (batch ${batch}, ${steps} steps, 28x28x1 conv32-conv64-dense128-dense10)`);
    results.push({ backend: info.name, samplesPerSecond });
  }
  return results;
}
