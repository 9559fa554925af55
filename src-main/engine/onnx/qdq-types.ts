/**
 * Which ONNX integer type a quantized tensor of the QDQ file is stored in.
 *
 *  - Weights are integer initializers already on their grid, so any width up
 *    to the type's fits: 2–4 bits → INT4, 5–8 → INT8, 9–16 → INT16 (signed
 *    domain, as TFLite and onnxruntime take kernels).
 *  - Activations go through QuantizeLinear, which rounds and then saturates
 *    at the type's own range: the run's grid is expressed only when its bits
 *    equal the type's width and it is not narrow range. 4, 8 or 16 bits:
 *    UINT4/UINT8/UINT16 for asymmetric specs (unsigned domain), INT4/INT8/INT16
 *    for symmetric ones (signed domain).
 *  - Biases stay int32 (scale s_in·s_w), whatever the widths.
 * INT4/UINT4 and 16-bit QuantizeLinear / DequantizeLinear need opset 21.
 */
import { LoweringError } from '../lowering-error.js';
import type { QParams } from '../quant/qparams.js';
import { DT, type TensorData } from './proto.js';

/** The first opset whose QuantizeLinear / DequantizeLinear take INT4/UINT4 and INT16/UINT16. */
export const OPSET_WIDE_QDQ = 21;

export interface QdqType {
  dt: number;
  /** Its width in bits (4, 8 or 16). */
  width: 4 | 8 | 16;
  domain: 'signed' | 'unsigned';
}

const TYPES: Record<'signed' | 'unsigned', Record<4 | 8 | 16, number>> = {
  signed: { 4: DT.INT4, 8: DT.INT8, 16: DT.INT16 },
  unsigned: { 4: DT.UINT4, 8: DT.UINT8, 16: DT.UINT16 },
};

function typeOf(width: 4 | 8 | 16, domain: 'signed' | 'unsigned'): QdqType {
  return { dt: TYPES[domain][width], width, domain };
}

/** A weight of `bits`: the narrowest signed type that holds it. */
export function weightQdqType(name: string, bits: number, opset: number): QdqType {
  const width = bits <= 4 ? 4 : bits <= 8 ? 8 : bits <= 16 ? 16 : null;
  if (width === null) throw new LoweringError(`weight ${name} has ${bits} bits; ONNX QDQ stores weights of at most 16 bits (INT16)`, 'unsupported', { tensor: name, format: 'onnx' });
  if (width !== 8 && opset < OPSET_WIDE_QDQ) {
    throw new LoweringError(`weight ${name} has ${bits} bits; opset ${opset} stores int8 weights only (INT4/INT16 need opset ${OPSET_WIDE_QDQ})`, 'unsupported', { tensor: name, format: 'onnx' });
  }
  return typeOf(width, 'signed');
}

/** The type an activation's QuantizeLinear saturates at; refuses a grid that type cannot express. */
export function activationQdqType(name: string, q: QParams, opset: number): QdqType {
  const domain = q.symmetric ? 'signed' : 'unsigned';
  if (q.bits !== 4 && q.bits !== 8 && q.bits !== 16) {
    throw new LoweringError(`activation ${name} has ${q.bits} bits; ONNX QuantizeLinear saturates at its type's range, so activations must have 4, 8 or 16 bits`, 'unsupported', { tensor: name, format: 'onnx' });
  }
  if (q.bits !== 8 && opset < OPSET_WIDE_QDQ) {
    throw new LoweringError(`activation ${name} has ${q.bits} bits; ONNX QuantizeLinear (opset ${opset}) stores 8-bit activations only`, 'unsupported', { tensor: name, format: 'onnx' });
  }
  if (q.narrowRange) throw new LoweringError(`activation ${name} is narrow range; ONNX QuantizeLinear saturates at the full range of its type and cannot express it`, 'unsupported', { tensor: name, format: 'onnx' });
  return typeOf(q.bits, domain);
}

/** Integers in the typed array a tensor of type `t` is written from (INT4/UINT4: one value an element; proto.ts packs them). */
export function qdqInts(t: QdqType, values: ArrayLike<number>): TensorData {
  if (t.width === 16) return t.domain === 'signed' ? Int16Array.from(values) : Uint16Array.from(values);
  return t.domain === 'signed' ? Int8Array.from(values) : Uint8Array.from(values);
}
