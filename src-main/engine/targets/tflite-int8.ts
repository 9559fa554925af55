/**
 * TensorFlow Lite full integer (int8), as its converter quantizes a model and
 * its interpreter computes it. Rules from TFLite's 8-bit quantization
 * specification (tensorflow.org/lite/performance/quantization_spec): weights
 * int8 in [-127, 127] with zero point 0, per-axis on the output channels
 * (Conv2D, DepthwiseConv2D, FullyConnected) or per-tensor; activations int8
 * in [-128, 127] with any zero point, per tensor; biases int32 with scale
 * s_in·s_w; SOFTMAX and LOGISTIC outputs at scale 1/256, zero point -128;
 * TANH at 1/128, zero point 0; CONCATENATION inputs and output, MAX_POOL_2D,
 * AVERAGE_POOL_2D, RESHAPE, PAD on their input's scale and zero point. The
 * rounding is the interpreter's, measured (targets/tflite/simulation.ts).
 */
import { INT8_SYMMETRIC_WEIGHTS, type TargetProfile } from './profile.js';

export const tfliteInt8: TargetProfile = {
  name: 'tflite-int8',
  label: 'TFLite int8',
  summary: "TensorFlow Lite full-integer int8: simulated as the interpreter computes the file (its rounding, int32 biases, LOGISTIC/TANH/SOFTMAX grids, logits quantized before softmax, its kernels' tables and means)",
  format: 'tflite',
  runtime: 'the TFLite interpreter',
  weights: INT8_SYMMETRIC_WEIGHTS,
  activations: { bits: [8], zeroPoint: 'any', narrowRange: false, granularity: 'per-tensor' },
  fixedGrids: [
    { activation: 'softmax', min: 0, max: 255 / 256, spec: 'int8', why: 'TFLite int8 SOFTMAX output: scale 1/256, zero point -128' },
    { activation: 'sigmoid', min: 0, max: 255 / 256, spec: 'int8', why: 'TFLite int8 LOGISTIC output: scale 1/256, zero point -128' },
    { activation: 'tanh', min: -1, max: 127 / 128, spec: 'int8', why: 'TFLite int8 TANH output: scale 1/128, zero point 0' },
  ],
  splitFusedSoftmax: true,
  fullInteger: true,
  sharedScales: ['max-pool', 'average pools', 'reshape / flatten', 'padding', 'cropping', 'nearest up-sampling', 'concatenation inputs and output'],
  fusedActivations: ['linear', 'relu', 'relu6'],
  rounding: {
    input: 'half-even',
    requantize: 'half-up',
    text: "input QUANTIZE half to even; requantization half up (single-rounding MultiplyByQuantizedMultiplier); MUL half to even (XNNPACK); LOGISTIC / TANH / HARD_SWISH / LEAKY_RELU by the kernels' tables; global average pools as the kernels round their means",
  },
  biases: 'int32, scale s_in·s_w, zero point 0',
  sources: ['https://www.tensorflow.org/lite/performance/quantization_spec'],
};
