/** Models with layers the IR does not model (opaque 'layer' nodes), shared by graph, transform and PTQ tests. */
import * as tf from '@tensorflow/tfjs';

/**
 * Fashion-MNIST shaped ([28,28,1] → 10 classes), functional:
 * conv2d → deconv (Conv2DTranspose) → elu (ELU) → conv2d_1 → layer_norm (LayerNormalization)
 * → flatten → dense → [dense_elu (Dense, activation elu), dense_gate (Dense)] → maximum (Maximum) → logits (Dense, softmax).
 */
export function opaqueModel(): tf.LayersModel {
  // Seeded kernels: with some unseeded draws dense_elu's ELU never beats dense_gate's sigmoid in `maximum`, and no gradient reaches it.
  const seeded = (seed: number) => tf.initializers.glorotUniform({ seed });
  const input = tf.input({ shape: [28, 28, 1], name: 'image' });
  let x = tf.layers.conv2d({ name: 'conv2d', kernelInitializer: seeded(1), filters: 4, kernelSize: 3, strides: 2, activation: 'relu' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.conv2dTranspose({ name: 'deconv', kernelInitializer: seeded(2), filters: 4, kernelSize: 3 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.elu({ name: 'elu' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ name: 'conv2d_1', kernelInitializer: seeded(3), filters: 6, kernelSize: 3, strides: 2 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.layerNormalization({ name: 'layer_norm' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten({ name: 'flatten' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ name: 'dense', kernelInitializer: seeded(4), units: 16, activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  const a = tf.layers.dense({ name: 'dense_elu', kernelInitializer: seeded(5), units: 12, activation: 'elu' }).apply(x) as tf.SymbolicTensor;
  const b = tf.layers.dense({ name: 'dense_gate', kernelInitializer: seeded(6), units: 12, activation: 'sigmoid' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.maximum({ name: 'maximum' }).apply([a, b]) as tf.SymbolicTensor;
  const out = tf.layers.dense({ name: 'logits', kernelInitializer: seeded(7), units: 10, activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'opaque_cnn' });
}

/** Names and classes of opaque layers in opaqueModel, in graph order. */
export const OPAQUE_LAYERS = [
  { name: 'deconv', className: 'Conv2DTranspose' },
  { name: 'elu', className: 'ELU' },
  { name: 'layer_norm', className: 'LayerNormalization' },
  { name: 'dense_elu', className: 'Dense' },
  { name: 'maximum', className: 'Maximum' },
];
