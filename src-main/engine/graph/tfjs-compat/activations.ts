/**
 * Activations Keras writes that tfjs-layers cannot deserialize, registered in
 * tfjs's serialization map (where tf.loadLayersModel, tf.models.modelFromJSON
 * and buildOpaqueLayer look every class up), and the names that map tfjs
 * activations to the IR's and back.
 *
 * tfjs looks an activation up by its Keras name camelCased ('hard_silu' →
 * 'hardSilu'). It knows 'swish' but not Keras 3's 'silu', 'hard_silu' or
 * 'hard_swish'. And one name means two functions: tfjs's 'hardSigmoid' is
 * Keras 2's clip(0.2·x + 0.5, 0, 1), while Keras 3's 'hard_sigmoid' is
 * relu6(x + 3) / 6. The Keras 3 one is registered under its own name,
 * KERAS3_HARD_SIGMOID, which the Keras reader writes in place of
 * 'hard_sigmoid' when the file is Keras 3 (kerasActivationForTfjs).
 */
import { tf } from '../../tfjs.js';
import type { LayerActivation } from '../types.js';

/** The Keras-style (snake_case) name under which Keras 3's hard_sigmoid loads; tfjs camelCases it to keras3HardSigmoid. */
export const KERAS3_HARD_SIGMOID = 'keras3_hard_sigmoid';

/** A tfjs activation object: what tfjs layers call `.apply(x)` on. */
abstract class KerasActivation extends tf.serialization.Serializable {
  abstract apply(x: tf.Tensor): tf.Tensor;
  getConfig(): tf.serialization.ConfigDict {
    return {};
  }
}

/** Keras 3 'silu' (= 'swish'): x·sigmoid(x), in the order of tfjs's own Swish. */
class Silu extends KerasActivation {
  static className = 'silu';
  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.mul(tf.sigmoid(x), x));
  }
}

/** Keras 3 hard_sigmoid: relu6(x + 3) / 6, as Keras' TensorFlow backend computes it. */
export function keras3HardSigmoid(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.div(tf.relu6(tf.add(x, 3)), 6));
}

class Keras3HardSigmoid extends KerasActivation {
  static className = 'keras3HardSigmoid';
  apply(x: tf.Tensor): tf.Tensor {
    return keras3HardSigmoid(x);
  }
}

/** Keras 3 hard_silu / hard_swish: x·hard_sigmoid(x). */
export function hardSwish(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(x, keras3HardSigmoid(x)));
}

class HardSwish extends KerasActivation {
  static className = 'hardSwish';
  apply(x: tf.Tensor): tf.Tensor {
    return hardSwish(x);
  }
}

class HardSilu extends HardSwish {
  static override className = 'hardSilu';
}

for (const cls of [Silu, Keras3HardSigmoid, HardSwish, HardSilu]) tf.serialization.registerClass(cls);

/** tfjs activation class name → IR activation. */
const FROM_TFJS: Record<string, LayerActivation> = {
  linear: 'linear',
  relu: 'relu',
  relu6: 'relu6',
  sigmoid: 'sigmoid',
  tanh: 'tanh',
  softmax: 'softmax',
  swish: 'swish',
  silu: 'swish',
  hardSigmoid: 'hard_sigmoid_keras2',
  keras3HardSigmoid: 'hard_sigmoid',
  hardSwish: 'hard_swish',
  hardSilu: 'hard_swish',
};

/** IR activation → the tfjs name a rebuilt layer uses. */
const TO_TFJS: Record<LayerActivation, string> = {
  linear: 'linear',
  relu: 'relu',
  relu6: 'relu6',
  sigmoid: 'sigmoid',
  tanh: 'tanh',
  softmax: 'softmax',
  swish: 'swish',
  hard_sigmoid: 'keras3HardSigmoid',
  hard_sigmoid_keras2: 'hardSigmoid',
  hard_swish: 'hardSwish',
};

/** The tfjs activation names the IR models. */
export const TFJS_ACTIVATIONS: readonly string[] = Object.keys(FROM_TFJS);

/** The IR activation of a tfjs activation name (a layer config's `activation`), or undefined. */
export function irActivation(tfjsName: unknown): LayerActivation | undefined {
  return typeof tfjsName === 'string' && Object.hasOwn(FROM_TFJS, tfjsName) ? FROM_TFJS[tfjsName] : undefined;
}

/** The tfjs activation name for an IR activation. */
export function tfjsActivation(activation: LayerActivation): string {
  return TO_TFJS[activation];
}

/**
 * For the Keras reader: the `activation` value to put in a layer config
 * before tfjs reads it. Keras 3's 'hard_sigmoid' becomes KERAS3_HARD_SIGMOID;
 * everything else (Keras 2 files included) is returned as is.
 */
export function kerasActivationForTfjs(name: unknown, keras3: boolean): unknown {
  return keras3 && name === 'hard_sigmoid' ? KERAS3_HARD_SIGMOID : name;
}
