/** How the integer reference computes: which runtime's kernels and roundings it follows. */
import type { RequantRounding } from './fixed-point.js';
import type { ActivationDomain, QuantizeRounding } from './tensor.js';

export interface IntegerOptions {
  /** Storage of activations: 'signed' (int8, TFLite; default) or 'unsigned' (uint8). Only AVERAGE_POOL_2D rounding depends on it. */
  domain?: ActivationDomain;
  /** MultiplyByQuantizedMultiplier flavour: 'double' (TFLite's default build) or 'single' (TFLITE_SINGLE_ROUNDING). */
  requantRounding?: RequantRounding;
  /** Rounding where a float is quantized (input, float epilogues, MEAN, tables): 'half-away' (TFLite's std::round) or 'half-even' (ONNX; the wasm TFLite interpreter). */
  quantizeRounding?: QuantizeRounding;
  /**
   * Elementwise activations: 'tflite' (default) runs TFLite's int8 kernels
   * where one exists (LOGISTIC on its 1/256 grid, HARD_SWISH, LEAKY_RELU);
   * 'float' computes every one as a QDQ runtime does (onnxruntime):
   * quantize(f(dequantize(q))).
   */
  elementwise?: 'tflite' | 'float';
  /**
   * Compute QUANTIZE, CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, MUL, MEAN and
   * LEAKY_RELU as XNNPACK's int8 kernels do (tensor.ts, requantize.ts' fp32
   * requantization, activations.ts, binary.ts, pool.ts), the way the TFLite
   * interpreter of @tensorflow/tfjs-tflite runs them; default false: TFLite's
   * reference kernels.
   */
  xnnpack?: boolean;
}
