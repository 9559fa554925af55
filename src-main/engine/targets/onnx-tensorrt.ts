/**
 * An ONNX QDQ file for TensorRT's explicit quantization
 * (docs.nvidia.com/deeplearning/tensorrt, "Working with Quantized Types" and
 * "Explicit Quantization"): TensorRT quantizes symmetrically — every zero
 * point 0 —, INT8 activations in [-128, 127] per tensor, INT8 weights in
 * [-127, 127] per tensor or per channel on the output channels; its
 * QuantizeLinear rounds half to even. TensorRT is not run here: the file is
 * verified in onnxruntime, which computes the QDQ graph as written, with the
 * int32 biases the file stores (TensorRT's kernels add the bias in float: a
 * difference of at most s_in·s_w/2 a channel).
 */
import { INT8_SYMMETRIC_WEIGHTS, type TargetProfile } from './profile.js';

export const onnxTensorrt: TargetProfile = {
  name: 'onnx-tensorrt',
  label: 'ONNX QDQ for TensorRT',
  summary: 'ONNX QDQ for TensorRT: symmetric int8 everywhere (zero point 0), weights [-127, 127]; simulated with QuantizeLinear rounding (half to even) and int32 biases',
  format: 'onnx',
  runtime: 'TensorRT (verified here in onnxruntime, which computes the same QDQ graph)',
  weights: INT8_SYMMETRIC_WEIGHTS,
  activations: { bits: [8], zeroPoint: 'zero', narrowRange: false, granularity: 'per-tensor' },
  fixedGrids: [],
  splitFusedSoftmax: false,
  fullInteger: false,
  sharedScales: ['max-pool', 'reshape / flatten', 'padding', 'cropping', 'nearest up-sampling', 'average pools and concatenation inputs (the plan shares them)'],
  fusedActivations: ['linear', 'relu', 'relu6'],
  rounding: { input: 'half-even', requantize: 'half-even', text: 'QuantizeLinear: half to even everywhere' },
  biases: 'int32 values as the QDQ file stores them',
  sources: ['https://docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/work-quantized-types.html', 'https://docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/quantized-types-explicit-quantization.html'],
};
