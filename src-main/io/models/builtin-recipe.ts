/**
 * How a built-in model starts: its initial weights and its BatchNormalization
 * settings. 'keras' is what users get (Keras's defaults: Glorot-uniform
 * kernels, zero biases, BN ε 1e-3). 'torch' gives the same layers PyTorch's
 * defaults, so the accuracy bench trains the studio's network with its torch.ao
 * peer's recipe (bench/torch_accuracy_peer.py): nn.Linear / nn.Conv2d's
 * kaiming_uniform(a=√5), i.e. U(±1/√fan_in), for kernels and biases alike,
 * fan_in counted as torch does (a depthwise kernel's fan_in is kh·kw, where
 * Keras counts kh·kw·channels), and nn.BatchNorm2d's ε 1e-5 and momentum 0.1
 * (0.9 in Keras's convention).
 */
import { tf } from '../../engine/tfjs.js';

export type BuiltinRecipe = 'keras' | 'torch';
export const BUILTIN_RECIPES: readonly BuiltinRecipe[] = ['keras', 'torch'];

type Initializer = ReturnType<typeof tf.initializers.glorotUniform>;

export interface RecipeInit {
  /** A kernel's initializer; fanIn as torch counts it (inputs × kernel area; per group for depthwise). */
  kernel(fanIn: number): Initializer;
  /** A bias's initializer (Keras: zeros). */
  bias(fanIn: number): Initializer;
  /** BatchNormalization options beyond the layer's own (ε, momentum). */
  batchNorm(): { epsilon?: number; momentum?: number };
}

/**
 * Seeded initializers, a distinct seed for each layer. Kernels take seeds
 * base, base + 1, … in layer order (the 'keras' recipe is exactly the
 * built-ins' long-standing weights); torch's biases draw from a second run of
 * seeds so they do not shift the kernels'.
 */
export function recipeInit(recipe: BuiltinRecipe, base: number): RecipeInit {
  let nextKernel = base;
  let nextBias = base + 10_000;
  const uniform = (fanIn: number, seed: number) => tf.initializers.randomUniform({ minval: -1 / Math.sqrt(fanIn), maxval: 1 / Math.sqrt(fanIn), seed });
  if (recipe === 'keras') {
    return {
      kernel: () => tf.initializers.glorotUniform({ seed: nextKernel++ }),
      bias: () => tf.initializers.zeros(),
      batchNorm: () => ({}),
    };
  }
  return {
    kernel: (fanIn) => uniform(fanIn, nextKernel++),
    bias: (fanIn) => uniform(fanIn, nextBias++),
    batchNorm: () => ({ epsilon: 1e-5, momentum: 0.9 }),
  };
}
