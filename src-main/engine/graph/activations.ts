/**
 * The IR's activations as raw tf ops, each computed in the same op order as
 * the tfjs-layers / Keras function it stands for (tfjs's Swish, Keras 3's
 * relu6(x + 3) / 6, tfjs's K.hardSigmoid, tf.leakyRelu), so the runtime
 * matches model.predict to float rounding.
 */
import { tf } from '../tfjs.js';
import { hardSwish, keras3HardSigmoid } from './tfjs-compat/activations.js';
import type { Activation } from './types.js';

/** `activation` applied to x; `alpha` is leaky_relu's negative slope (required for it). */
export function activate(x: tf.Tensor, activation: Activation, alpha?: number): tf.Tensor {
  switch (activation) {
    case 'linear':
      return x;
    case 'relu':
      return tf.relu(x);
    case 'relu6':
      return tf.clipByValue(x, 0, 6);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'tanh':
      return tf.tanh(x);
    case 'softmax':
      return tf.softmax(x, -1);
    case 'swish':
      return tf.mul(tf.sigmoid(x), x);
    case 'hard_sigmoid':
      return keras3HardSigmoid(x);
    case 'hard_sigmoid_keras2':
      return tf.clipByValue(tf.add(0.5, tf.mul(0.2, x)), 0, 1);
    case 'hard_swish':
      return hardSwish(x);
    case 'leaky_relu':
      if (alpha === undefined) throw new Error('leaky_relu needs its alpha');
      return tf.leakyRelu(x, alpha);
  }
}
