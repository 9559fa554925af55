/**
 * Keras' Normalization layer, which tfjs-layers lacks (EfficientNet's stem
 * has one), registered under its Keras class name so Keras models holding it
 * load. Inference only, as Keras computes it:
 *   y = (x − mean) / max(√variance, 1e-7)     (invert: y = mean + x·max(√variance, 1e-7))
 * with 1e-7 = keras.backend.epsilon(). mean and variance come from the
 * config when given there, else from the weights `mean`, `variance` (the
 * kept axes' shape) and `count` (unused at inference; float32 here, int64 in
 * Keras), the weights adapt() fills. Kept axes: the last one (axis -1, Keras'
 * default) or none (axis None: one mean and variance for the whole tensor).
 */
import { tf } from '../../tfjs.js';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
type Values = number | number[] | null | undefined;

export interface NormalizationArgs extends LayerArgs {
  axis?: number | number[] | null;
  mean?: Values;
  variance?: Values;
  invert?: boolean;
}

/** keras.backend.epsilon(), the floor of the standard deviation. */
export const NORMALIZATION_EPSILON = 1e-7;

export class Normalization extends tf.layers.Layer {
  static className = 'Normalization';
  readonly axis: number[];
  readonly mean: Values;
  readonly variance: Values;
  readonly invert: boolean;
  private weightsOf: { mean: tf.LayerVariable; variance: tf.LayerVariable } | null = null;

  constructor(args: NormalizationArgs) {
    super(args);
    this.axis = args.axis == null ? [] : Array.isArray(args.axis) ? [...args.axis] : [args.axis];
    this.mean = args.mean;
    this.variance = args.variance;
    this.invert = args.invert ?? false;
    if ((this.mean == null) !== (this.variance == null)) throw new Error(`Normalization ${this.name}: give both mean and variance, or neither`);
  }

  /** The channel count the statistics have: 1 (axis None) or the last axis' size. */
  private keptSize(inputShape: tf.Shape): number {
    const rank = inputShape.length;
    const kept = this.axis.map((a) => (a < 0 ? a + rank : a));
    if (kept.length === 0) return 1;
    if (kept.length === 1 && kept[0] === rank - 1 && inputShape[rank - 1] != null) return inputShape[rank - 1]!;
    throw new Error(`Normalization ${this.name}: axis ${JSON.stringify(this.axis)} is not supported (only the last axis, or None)`);
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const size = this.keptSize(shape);
    if (this.mean == null) {
      const statShape = this.axis.length === 0 ? [] : [size];
      const mean = this.addWeight('mean', statShape, 'float32', tf.initializers.zeros(), undefined, false);
      const variance = this.addWeight('variance', statShape, 'float32', tf.initializers.ones(), undefined, false);
      this.addWeight('count', [], 'float32', tf.initializers.zeros(), undefined, false);
      this.weightsOf = { mean, variance };
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const mean = this.weightsOf ? this.weightsOf.mean.read() : tf.tensor(this.mean as number | number[]);
      const variance = this.weightsOf ? this.weightsOf.variance.read() : tf.tensor(this.variance as number | number[]);
      const std = tf.maximum(tf.sqrt(variance), NORMALIZATION_EPSILON);
      return this.invert ? tf.add(mean, tf.mul(x, std)) : tf.div(tf.sub(x, mean), std);
    });
  }

  /** The affine map y = x·scale + offset it computes, per kept channel (weights read when adapted). */
  affine(): { scale: number[]; offset: number[] } {
    const mean = this.weightsOf ? Array.from(this.weightsOf.mean.read().dataSync()) : [this.mean as number | number[]].flat();
    const variance = this.weightsOf ? Array.from(this.weightsOf.variance.read().dataSync()) : [this.variance as number | number[]].flat();
    const std = variance.map((v) => Math.max(Math.sqrt(Math.fround(v)), NORMALIZATION_EPSILON));
    return this.invert
      ? { scale: std, offset: mean }
      : { scale: std.map((s) => 1 / s), offset: mean.map((m, i) => -m / std[i]!) };
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), axis: this.axis, mean: this.mean ?? null, variance: this.variance ?? null, invert: this.invert };
  }
}

tf.serialization.registerClass(Normalization);
