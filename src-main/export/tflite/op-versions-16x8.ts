/** TFLite 16x8 files (engine/targets/tflite/int16.ts): the op versions of their int16 kernels. */
import { BuiltinOperator } from './schema/generated/schema_generated.js';

/** Op versions the converter writes for 16x8 kernels (tools/versioning/op_version.cc); ops not listed keep the int8 table's. */
export const OP_VERSION_16X8: Partial<Record<BuiltinOperator, number>> = {
  [BuiltinOperator.CONV_2D]: 4,
  [BuiltinOperator.DEPTHWISE_CONV_2D]: 5,
  [BuiltinOperator.FULLY_CONNECTED]: 7,
  [BuiltinOperator.MAX_POOL_2D]: 3,
  [BuiltinOperator.AVERAGE_POOL_2D]: 3,
  [BuiltinOperator.ADD]: 3,
  [BuiltinOperator.CONCATENATION]: 3,
  [BuiltinOperator.SOFTMAX]: 3,
  [BuiltinOperator.QUANTIZE]: 2,
  [BuiltinOperator.DEQUANTIZE]: 3,
  [BuiltinOperator.RELU]: 3,
  [BuiltinOperator.RELU6]: 3,
  [BuiltinOperator.RESHAPE]: 1,
  [BuiltinOperator.PAD]: 3,
  [BuiltinOperator.SLICE]: 4,
};
