/**
 * GlobalAveragePooling2D and GlobalMaxPooling2D with Keras' `keepdims`
 * (output [batch, 1, 1, c] instead of [batch, c]), which tfjs-layers' own
 * classes lack: squeeze-and-excite blocks (MobileNetV3, EfficientNet in
 * Keras 3) pool with keepdims=True. Registered under the Keras class names,
 * replacing tfjs's entries, so both Keras and tfjs model files load through
 * these; without keepdims they compute exactly what tfjs's classes do
 * (tf.mean / tf.max over H and W).
 */
import { tf } from '../../tfjs.js';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;

export interface GlobalPooling2DArgs extends LayerArgs {
  dataFormat?: 'channelsFirst' | 'channelsLast';
  keepdims?: boolean;
}

abstract class GlobalPooling2D extends tf.layers.Layer {
  readonly dataFormat: 'channelsFirst' | 'channelsLast';
  readonly keepdims: boolean;

  constructor(args: GlobalPooling2DArgs = {}) {
    super(args);
    this.dataFormat = args.dataFormat ?? 'channelsLast';
    this.keepdims = args.keepdims ?? false;
  }

  protected abstract reduce(x: tf.Tensor, axes: number[], keepdims: boolean): tf.Tensor;

  private axes(): number[] {
    return this.dataFormat === 'channelsLast' ? [1, 2] : [2, 3];
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    if (s.length !== 4) throw new Error(`${this.getClassName()} ${this.name} expects a rank-4 input, got [${s.join(',')}]`);
    const c = this.dataFormat === 'channelsLast' ? s[3]! : s[1]!;
    if (!this.keepdims) return [s[0]!, c];
    return this.dataFormat === 'channelsLast' ? [s[0]!, 1, 1, c] : [s[0]!, c, 1, 1];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => this.reduce(Array.isArray(inputs) ? inputs[0]! : inputs, this.axes(), this.keepdims));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), dataFormat: this.dataFormat, keepdims: this.keepdims };
  }
}

export class GlobalAveragePooling2D extends GlobalPooling2D {
  static className = 'GlobalAveragePooling2D';
  protected reduce(x: tf.Tensor, axes: number[], keepdims: boolean): tf.Tensor {
    return tf.mean(x, axes, keepdims);
  }
}

export class GlobalMaxPooling2D extends GlobalPooling2D {
  static className = 'GlobalMaxPooling2D';
  protected reduce(x: tf.Tensor, axes: number[], keepdims: boolean): tf.Tensor {
    return tf.max(x, axes, keepdims);
  }
}

tf.serialization.registerClass(GlobalAveragePooling2D);
tf.serialization.registerClass(GlobalMaxPooling2D);
