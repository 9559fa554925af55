/**
 * Float weights to the integers a runtime stores, computed the way the
 * runtimes' QuantizeLinear does so the file holds exactly what the studio's
 * 'half-even' simulation uses:
 *
 *   q = clamp(round_half_even(f32(w / scale)) + zp, qmin, qmax)
 *
 * in the signed (int8) or unsigned (uint8) domain of integerQParams. The
 * quotient of two float32 values computed in float64 and rounded once to
 * float32 is the correctly rounded float32 quotient, so it equals tf.div's.
 *
 * Biases: int32 with scale s_bias[c] = f32(s_in · s_w[c]) and zero point 0
 * (ONNX QDQ, TFLite), q = round_half_even(f32(b / s_bias)).
 */
import { LoweringError } from '../lowering-error.js';
import { integerQParams, type IntegerQParams, type QParams } from './qparams.js';
import { channelLayout } from './spec.js';

/** Round half to even, as ONNX QuantizeLinear and tf.round do. */
export function roundHalfEven(v: number): number {
  const r = Math.round(v); // half up
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Quantizes `values` (row-major `shape`) with qparams on `axis` (undefined =
 * per-tensor) into the given domain. Returns the integers in the same layout.
 */
export function quantizeToInts(values: Float32Array, shape: readonly number[], axis: number | undefined, qp: QParams, domain: 'signed' | 'unsigned'): { ints: Int32Array; iq: IntegerQParams } {
  const iq = integerQParams(qp, domain);
  const { outer, channels, inner } = channelLayout(shape, axis);
  if (channels !== iq.scale.length) throw new Error(`quantizeToInts: ${iq.scale.length} scales for ${channels} channels`);
  const ints = new Int32Array(values.length);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const s = iq.scale[c]!;
      const zp = iq.zeroPoint[c]!;
      const base = (o * channels + c) * inner;
      for (let i = 0; i < inner; i++) {
        const q = roundHalfEven(Math.fround(values[base + i]! / s)) + zp;
        ints[base + i] = q < iq.qmin ? iq.qmin : q > iq.qmax ? iq.qmax : q;
      }
    }
  }
  return { ints, iq };
}

/** Bias scales f32(s_in · s_w[c]) for `channels` output channels (a per-tensor weight scale is repeated). */
export function biasScales(inputScale: number, weightScale: Float32Array, channels: number): Float32Array {
  const out = new Float32Array(channels);
  for (let c = 0; c < channels; c++) out[c] = Math.fround(inputScale * weightScale[weightScale.length === 1 ? 0 : c]!);
  return out;
}

const INT32_MAX = 2 ** 31 - 1;

/** int32 bias values; throws naming the layer if one does not fit in int32. */
export function quantizeBias(bias: Float32Array, scales: Float32Array, layer: string): Int32Array {
  const out = new Int32Array(bias.length);
  for (let c = 0; c < bias.length; c++) {
    const q = roundHalfEven(Math.fround(bias[c]! / scales[c]!));
    if (!(Math.abs(q) <= INT32_MAX)) {
      throw new LoweringError(`bias of ${layer}, channel ${c}: ${bias[c]} / ${scales[c]} does not fit in int32`, 'unsupported', { tensor: `${layer}/bias` });
    }
    out[c] = q;
  }
  return out;
}

/** The float values an int32 bias stands for: q · s_bias (what DequantizeLinear gives). */
export function dequantizeBias(q: Int32Array, scales: Float32Array): Float32Array {
  const out = new Float32Array(q.length);
  for (let c = 0; c < q.length; c++) out[c] = Math.fround(q[c]! * scales[c]!);
  return out;
}
