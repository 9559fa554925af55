/**
 * An ONNX QDQ file for onnxruntime's CPU execution provider, as onnxruntime's
 * static quantizer writes one (onnxruntime.ai/docs/performance/model-optimizations/quantization.html):
 * QuantizeLinear / DequantizeLinear pairs, activations uint8 (asymmetric,
 * the quantizer's default) or int8, per tensor; weights int8, symmetric
 * ([-127, 127], zero point 0: the quantizer's WeightSymmetric default),
 * per-tensor or per-channel on the output channels (Conv axis 0, Gemm axis
 * 1); biases int32 with scale s_in·s_w. Its QDQSoftmax quantizes the softmax
 * input (the logits) and fixes the output at scale 1/256 (zero point 0 for
 * uint8, -128 for int8; 1/128 and zero point 0 when activations are
 * symmetric); MaxPool, Reshape, Transpose, Resize keep their input's scale
 * (the quantizer's Direct8BitOp family). QuantizeLinear rounds half to even.
 */
import { INT8_SYMMETRIC_WEIGHTS, type TargetProfile } from './profile.js';

export const onnxOrtCpu: TargetProfile = {
  name: 'onnx-ort-cpu',
  label: 'ONNX for onnxruntime CPU',
  summary: 'ONNX QDQ for onnxruntime CPU (U8/S8 activations, S8 weights): simulated with QuantizeLinear rounding (half to even), int32 biases, softmax on its 1/256 grid after quantized logits',
  format: 'onnx',
  runtime: 'onnxruntime (CPU)',
  weights: INT8_SYMMETRIC_WEIGHTS,
  activations: { bits: [8], zeroPoint: 'any', narrowRange: false, granularity: 'per-tensor' },
  fixedGrids: [{ activation: 'softmax', min: 0, max: 255 / 256, spec: 'own', symmetricRange: [-1, 127 / 128], why: "onnxruntime's QDQSoftmax output: scale 1/256 (1/128 with symmetric activations)" }],
  splitFusedSoftmax: true,
  fullInteger: false,
  sharedScales: ['max-pool', 'reshape / flatten', 'padding', 'cropping', 'nearest up-sampling', 'average pools and concatenation inputs (the plan shares them; QDQ holds one grid there exactly)'],
  fusedActivations: ['linear', 'relu', 'relu6'],
  rounding: { input: 'half-even', requantize: 'half-even', text: 'QuantizeLinear: half to even everywhere' },
  biases: 'int32, scale s_in·s_w, zero point 0',
  sources: ['https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html', 'onnxruntime/python/tools/quantization/operators/softmax.py (QDQSoftmax)'],
};
