/**
 * TFLite's 16x8 mode (the converter's
 * EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8): int16
 * activations, symmetric with zero point 0, int8 symmetric weights (per
 * channel or per tensor) and int64 biases with scale s_in·s_w for CONV_2D,
 * DEPTHWISE_CONV_2D and FULLY_CONNECTED. A file is int8 throughout or 16x8
 * throughout: an int16 op reads and writes int16 only, and the only op that
 * moves between int8 and int16 is QUANTIZE, which the converter does not put
 * inside a model. So a run whose activations are all 16 bits is written
 * 16x8, one whose activations are all 8 bits int8, and a mix is refused.
 *
 * What the run's config needs for 16x8: activations { bits: 16, symmetric:
 * true, narrowRange: false } (the plan then gives every activation zero point
 * 0 on [−32768, 32767], the int16 kernels' clamp), weights of at most 8 bits,
 * symmetric (zero point 0).
 *
 * The 16x8 writer (export/tflite, op versions in op-versions-16x8.ts) covers the ops whose int16 kernels the studio's simulation
 * computes as the interpreter does (measured in the tfjs-tflite wasm build):
 * CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED (fused NONE / RELU / RELU6),
 * MAX_POOL_2D, AVERAGE_POOL_2D (and the global pool + RESHAPE), RESHAPE, ADD
 * (general scales: pot_scale_int16 false), CONCATENATION (inputs on the
 * output's grid: the int16 kernel copies without rescaling), SOFTMAX (output
 * scale 1/32768, zero point 0), RELU, RELU6, QUANTIZE, DEQUANTIZE, PAD and
 * SLICE. The int16 LOGISTIC / TANH / HARD_SWISH / LEAKY_RELU (lookup tables
 * with interpolation), MUL, MEAN and REDUCE_MAX, RESIZE_NEAREST_NEIGHBOR and
 * the lowered constants (hard sigmoid, mid-model Rescaling / Normalization)
 * are refused, naming the layer: their int16 arithmetic is not simulated.
 *
 * The int16 kernels' requantization (reference_integer_ops with int64
 * accumulators) multiplies by a 16-bit multiplier: TFLite's
 * MultiplyByQuantizedMultiplier(int64) rounds the 32-bit fixed-point
 * multiplier to reduced = (m + 2^15) >> 16, then rounds half up. The
 * simulation folds the ratio of that multiplier to the exact one into each
 * layer's kernel and bias (requantRatios), so it computes what the kernel
 * computes.
 */
import type { Graph, GraphNode } from '../../graph/types.js';
import { isWeighted } from '../../graph/types.js';
import { inputScaleOf } from '../../integer/biases.js';
import { quantizeMultiplier } from '../../integer/fixed-point.js';
import { LoweringError } from '../../lowering-error.js';
import { computeQParams, integerQParams, type QParams } from '../../quant/qparams.js';
import type { QuantPlan } from '../../transform/plan.js';

/** What a file's activation tensors hold. */
export type TfliteActivationType = 'int8' | 'int16';

// The export turns these into its ExportError (export/errors.ts lowered).
const unsupported = (tensor: string, message: string) => new LoweringError(message, 'unsupported', { tensor, format: 'tflite' });

const SIXTEEN_BY_EIGHT = 'TFLite 16x8 (int16 activations, int8 weights)';

/**
 * int8 or int16 from the run's activation specs; refuses a mix (naming the
 * first layer whose width differs from the model input's), a width other
 * than 8 or 16, and 16-bit activations 16x8 cannot hold (asymmetric, or
 * narrow range), saying what to change in the run's config.
 */
export function activationTypeOf(plan: QuantPlan): TfliteActivationType {
  const first = plan.activations[0];
  if (!first) return 'int8';
  for (const a of plan.activations) {
    const layer = a.layers.join(' + ');
    if (a.spec.bits !== 8 && a.spec.bits !== 16) {
      throw unsupported(a.name, `layer ${layer}: activation ${a.name} has ${a.spec.bits} bits; TFLite full-integer activations are int8, or int16 in its 16x8 mode`);
    }
    if (a.spec.bits !== first.spec.bits) {
      throw unsupported(
        a.name,
        `layer ${layer}: activation ${a.name} has ${a.spec.bits} bits while ${first.name} has ${first.spec.bits}; a TFLite file holds int8 activations throughout or int16 throughout (16x8): its int16 kernels read and write int16 only, and only QUANTIZE converts between the two (give every layer the same activation bits)`,
      );
    }
  }
  if (first.spec.bits === 8) return 'int8';
  for (const a of plan.activations) {
    const layer = a.layers.join(' + ');
    if (!a.spec.symmetric) {
      throw unsupported(a.name, `layer ${layer}: activation ${a.name} is 16-bit asymmetric; ${SIXTEEN_BY_EIGHT} needs symmetric int16 activations with zero point 0: set activations.symmetric true (and narrowRange false) in the run's config (studio calibrate --symmetric-activations) and run it again`);
    }
    if (a.spec.narrowRange) {
      throw unsupported(a.name, `layer ${layer}: activation ${a.name} is narrow range; ${SIXTEEN_BY_EIGHT}'s kernels clamp activations to [-32768, 32767]: set activations.narrowRange false in the run's config and run it again`);
    }
  }
  return 'int16';
}

/** The activation type of a set of qparams (16 bits: int16). */
export const activationTypeOfBits = (bits: number): TfliteActivationType => (bits === 16 ? 'int16' : 'int8');

/**
 * Nodes of the (lowered) graph the 16x8 writer does not write, with why
 * (see the module comment); checked before anything is computed or written.
 */
export function assert16x8Ops(graph: Graph, plan: QuantPlan): void {
  const input = plan.activations.find((a) => a.role === 'input');
  const preprocessing = new Set(input?.layers.slice(1) ?? []);
  const refuse = (n: GraphNode, what: string) => {
    throw unsupported(n.name, `layer ${n.name}: ${what} is not written in ${SIXTEEN_BY_EIGHT}: the studio does not simulate its int16 kernel's arithmetic (export the run with 8-bit activations, or keep the layer out of the model)`);
  };
  for (const n of graph.nodes) {
    if (n.op === 'activation' && !['relu', 'relu6', 'softmax', 'linear'].includes(n.activation)) refuse(n, `activation ${n.activation}`);
    if (n.op === 'multiply') refuse(n, 'Multiply (MUL)');
    if (n.op === 'affine' && !preprocessing.has(n.name)) refuse(n, 'a Rescaling / Normalization / unfolded BatchNormalization inside the model (MUL / ADD with constants)');
    if (n.op === 'globalMaxPool2d') refuse(n, 'GlobalMaxPooling2D (REDUCE_MAX)');
    if (n.op === 'globalAvgPool2d' && n.keepdims) refuse(n, 'GlobalAveragePooling2D with keepdims (MEAN)');
    if (n.op === 'upSample2d') refuse(n, 'UpSampling2D (RESIZE_NEAREST_NEIGHBOR)');
    if (isWeighted(n) && n.activation !== 'linear' && n.activation !== 'relu' && n.activation !== 'relu6' && n.activation !== 'softmax') refuse(n, `activation ${n.activation}`);
  }
}

/** TFLite's int16 SOFTMAX output grid, in TF's unsigned domain: scale 1/32768, zero point 32768 (signed 0). */
export function softmaxQParams16(): QParams {
  return computeQParams([-1], [32767 / 32768], { bits: 16, symmetric: true, narrowRange: false, granularity: 'per-tensor' });
}

/**
 * The 16-bit multiplier MultiplyByQuantizedMultiplier(int64) uses for the
 * real multiplier `real`, as a real number: TFLite's QuantizeMultiplier
 * gives m·2^(shift−31) (m a 31-bit fixed-point fraction), then reduced =
 * m < 0x7FFF0000 ? (m + 2^15) >> 16 : 0x7FFF, applied as reduced·2^(shift−15).
 */
export function reducedMultiplier(real: number): number {
  const { reduced, shift } = reducedMultiplierParts(real);
  return reduced * 2 ** (shift - 15);
}

/** The integers of reducedMultiplier: the kernel computes (acc · reduced + 2^(14 − shift)) >> (15 − shift). */
export function reducedMultiplierParts(real: number): { reduced: number; shift: number } {
  const { multiplier, shift } = quantizeMultiplier(real);
  return { reduced: multiplier < 0x7fff0000 ? Math.floor((multiplier + 2 ** 15) / 2 ** 16) : 0x7fff, shift };
}

/**
 * Per weighted layer of a 16x8 model, the ratio of the kernel's reduced
 * multiplier to the exact one, per output channel (Keras's last kernel axis;
 * depthwise: in·multiplier): TFLite's real multiplier is the double
 * s_in·s_w[c] / s_out of the float32 scales it stores.
 */
export function requantRatios(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  for (const wq of plan.weights) {
    const closing = plan.activations.find((a) => a.layers[0] === wq.layer);
    const qOut = closing ? qparams.get(closing.sharedWith ?? closing.name) : undefined;
    const qW = qparams.get(wq.name);
    const sIn = inputScaleOf(plan, qparams, wq.input);
    const node = graph.nodes.find((n) => n.name === wq.layer);
    if (!qOut || !qW || !sIn || !node || !isWeighted(node)) continue;
    const channels = node.outputShape[node.outputShape.length - 1]!;
    const sOut = integerQParams(qOut, 'signed').scale[0]!;
    const ratios = new Float64Array(channels);
    for (let c = 0; c < channels; c++) {
      const real = (sIn.scale[0]! * qW.scale[qW.scale.length === 1 ? 0 : c]!) / sOut;
      ratios[c] = reducedMultiplier(real) / real;
    }
    out.set(wq.layer, ratios);
  }
  return out;
}
