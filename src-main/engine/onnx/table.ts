/**
 * An elementwise function of a value on an integer grid, as a lookup table:
 * the value's level on its grid indexes a table of outputs, one row of
 * `levels` entries per channel (a per-channel constant operand gives each
 * channel its own row). Integer kernels that are functions of one int8 input
 * (an activation's 256-entry table, a MUL or ADD by an int8 constant) are
 * simulated so, bit for bit, whatever float arithmetic the kernel hides.
 *
 *   i = clip(Round(x / s_in) + zp_in − qmin, 0, levels − 1) [+ c · levels]
 *   y = table[i]
 *
 * (Round halves to even; x is already on the grid, so x / s_in lies within
 * float rounding of an integer.) The same op sequence as the TensorFlow.js
 * form (engine/targets/tflite/simulate-ops.ts).
 */
import type { OnnxBuilder, OnnxValue } from './builder.js';
import { DT } from './proto.js';

/** An input grid in the signed domain. */
export interface TableGrid {
  scale: number;
  zeroPoint: number;
  qmin: number;
  qmax: number;
}

/**
 * table[(channel ·) levels + level of x] for `x` on grid `input`; `values`
 * holds channels × levels float outputs. Per-channel rows follow the channel
 * axis of the value's layout (1 for NCHW images, the last axis otherwise).
 * Nodes named `<name>/table_*`; returns the output's value.
 */
export function tableLookupNodes(b: OnnxBuilder, x: OnnxValue, name: string, values: Float32Array, channels: number, input: TableGrid): OnnxValue {
  const levels = input.qmax - input.qmin + 1;
  if (values.length !== channels * levels) throw new Error(`table of ${name}: ${values.length} entries for ${channels} channel(s) of ${levels} levels`);
  const p = (k: string) => `${name}/table_${k}`;
  const level = b.op('Add', [b.op('Round', [b.op('Div', [x.name, b.f32(input.scale, [], p('scale'))], {}, p('v'))], {}, p('q')), b.f32(input.zeroPoint - input.qmin, [], p('offset'))], {}, p('shifted'));
  let index = b.op('Clip', [level, b.f32(0, [], p('zero')), b.f32(levels - 1, [], p('top'))], {}, p('level'));
  if (channels > 1) {
    const axis = x.rank === 4 && x.nchw ? 1 : x.rank - 1;
    const dims = Array.from({ length: x.rank - axis }, (_, i) => (i === 0 ? channels : 1));
    index = b.op('Add', [index, b.f32(Float32Array.from({ length: channels }, (_, c) => c * levels), dims, p('rows'))], {}, p('row_level'));
  }
  const indices = b.op('Cast', [index], { to: DT.INT64 }, p('index'));
  const y = b.op('Gather', [b.f32(values, [values.length], p('values')), indices], { axis: 0 }, p('out'));
  return { ...x, name: y };
}
