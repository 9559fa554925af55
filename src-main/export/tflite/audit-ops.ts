/**
 * The audit of the ops a lowered graph adds (audit.ts checks weights, biases
 * and every activation quantizer's tensor), read back from the file:
 *
 *  - PAD, SLICE, RESIZE_NEAREST_NEIGHBOR, MAX_POOL_2D, AVERAGE_POOL_2D,
 *    REDUCE_MAX, MEAN and RESHAPE: input and output of one integer type on
 *    one scale and zero point (TFLite's int8 kernels require or assume it;
 *    the plan passes the range through); in a 16x8 file CONCATENATION's
 *    inputs too (its int16 kernel copies without rescaling), and ADD's
 *    pot_scale_int16 is false (the general int16 kernel);
 *  - LOGISTIC output on scale 1/256, zero point −128; TANH on 1/128, 0;
 *  - each int8 constant `<node>/multiplier` / `<node>/addend`: read by a MUL /
 *    ADD, int8, with the lowering's scale and zero point, and holding the
 *    integers of the node's constants;
 *  - LEAKY_RELU's alpha, RESIZE_NEAREST_NEIGHBOR's flags (align_corners and
 *    half_pixel_centers false) and the reduction axes [1, 2] of MEAN / REDUCE_MAX.
 */
import { integerQParams } from '../../engine/quant/qparams.js';
import type { LoweredModel } from '../../engine/targets/tflite/lower.js';
import { quantizedConstant } from '../../engine/targets/tflite/lower.js';
import { quantizerAt } from '../../engine/targets/tflite/quant.js';
import {
  AddOptionsT,
  BuiltinOperator,
  LeakyReluOptionsT,
  ResizeNearestNeighborOptionsT,
  TensorType,
  type ModelT,
  type OperatorT,
  type SubGraphT,
  type TensorT,
} from './schema/generated/schema_generated.js';

/** One tensor of the file as the audit read it. */
export interface AuditedTensor {
  tensor: string;
  kind: 'weight' | 'bias' | 'activation' | 'constant';
  dtype: string;
  channels: number;
  /** quantized_dimension when per-channel. */
  axis: number | null;
  range: [number, number] | null;
}

const SAME_GRID: ReadonlySet<BuiltinOperator> = new Set([
  BuiltinOperator.PAD,
  BuiltinOperator.SLICE,
  BuiltinOperator.RESIZE_NEAREST_NEIGHBOR,
  BuiltinOperator.MAX_POOL_2D,
  BuiltinOperator.AVERAGE_POOL_2D,
  BuiltinOperator.REDUCE_MAX,
  BuiltinOperator.MEAN,
  BuiltinOperator.RESHAPE,
]);

/** Output grids TFLite fixes: [scale, zero point]. */
const FIXED_OUTPUT: Partial<Record<BuiltinOperator, [number, number]>> = {
  [BuiltinOperator.LOGISTIC]: [1 / 256, -128],
  [BuiltinOperator.TANH]: [1 / 128, 0],
};

export interface OpAuditContext {
  model: ModelT;
  sg: SubGraphT;
  code(op: OperatorT): BuiltinOperator;
  values(t: TensorT): Int8Array | Int16Array | Int32Array | Float64Array | null;
  problems: string[];
  checked: AuditedTensor[];
}

const grid = (t: TensorT | undefined) => (t?.quantization ? [t.quantization.scale[0], Number(t.quantization.zeroPoint[0])] : [undefined, undefined]);

export function auditLoweredOps(ctx: OpAuditContext, lowered: LoweredModel): void {
  const { sg, problems } = ctx;
  const name = (i: number) => String(sg.tensors[i]?.name);
  const int32s = (i: number | undefined) => (i === undefined ? null : sg.tensors[i]);
  for (const op of sg.operators) {
    const code = ctx.code(op);
    const opName = BuiltinOperator[code];
    const x = sg.tensors[op.inputs[0] ?? -1];
    const y = sg.tensors[op.outputs[0] ?? -1];
    if (!y) continue;
    const integer = y.type === TensorType.INT8 || y.type === TensorType.INT16;
    const int16 = y.type === TensorType.INT16;
    if (SAME_GRID.has(code) && x && integer) {
      const [sx, zx] = grid(x);
      const [sy, zy] = grid(y);
      if (x.type !== y.type || sx !== sy || zx !== zy) {
        problems.push(`${name(op.outputs[0]!)}: ${opName} output on scale ${sy}, zero point ${zy}, its input ${name(op.inputs[0]!)} on ${sx}, ${zx}; TFLite's ${int16 ? 'int16' : 'int8'} ${opName} keeps its input's scale and zero point`);
      }
    }
    if (int16 && code === BuiltinOperator.CONCATENATION) {
      const [sy, zy] = grid(y);
      for (const i of op.inputs) {
        const [sx, zx] = grid(sg.tensors[i]);
        if (sx !== sy || zx !== zy) problems.push(`${name(i)}: CONCATENATION input on scale ${sx}, zero point ${zx}, its output ${name(op.outputs[0]!)} on ${sy}, ${zy}; TFLite's int16 CONCATENATION copies without rescaling`);
      }
    }
    if (int16 && code === BuiltinOperator.ADD && (op.builtinOptions as AddOptionsT | null)?.potScaleInt16 !== false) {
      problems.push(`${name(op.outputs[0]!)}: ADD with pot_scale_int16 true; the 16x8 file needs the general int16 ADD (pot_scale_int16 false)`);
    }
    const fixed = FIXED_OUTPUT[code];
    if (fixed) {
      const [s, z] = grid(y);
      if (s !== Math.fround(fixed[0]) || z !== fixed[1]) problems.push(`${name(op.outputs[0]!)}: ${opName} output on scale ${s}, zero point ${z}; TFLite's int8 ${opName} needs scale ${fixed[0]}, zero point ${fixed[1]}`);
    }
    if (code === BuiltinOperator.RESIZE_NEAREST_NEIGHBOR) {
      const o = op.builtinOptions as ResizeNearestNeighborOptionsT | null;
      if (!o || o.alignCorners || o.halfPixelCenters) problems.push(`${name(op.outputs[0]!)}: RESIZE_NEAREST_NEIGHBOR with align_corners ${o?.alignCorners} and half_pixel_centers ${o?.halfPixelCenters}; the up-sampling needs both false`);
    }
    if (code === BuiltinOperator.MEAN || code === BuiltinOperator.REDUCE_MAX) {
      const axis = int32s(op.inputs[1]);
      const v = axis ? ctx.values(axis) : null;
      if (!v || Array.from(v).join() !== '1,2') problems.push(`${name(op.outputs[0]!)}: ${opName} over axes [${v ? Array.from(v) : ''}], [1, 2] (height, width) expected`);
    }
  }

  for (const n of lowered.graph.nodes) {
    if (n.op === 'affine') {
      for (const role of ['multiplier', 'addend'] as const) {
        const qp = lowered.qparams.get(`${n.name}/${role}`);
        if (!qp) continue;
        const tensorName = `${n.name}/${role}`;
        const index = ctx.sg.tensors.findIndex((t) => String(t.name) === tensorName);
        const reader = ctx.sg.operators.find((o) => o.inputs[1] === index);
        const t = ctx.sg.tensors[index];
        if (index < 0 || !t || !reader) {
          problems.push(`${tensorName}: no constant tensor of that name read by an operator`);
          continue;
        }
        const want = role === 'multiplier' ? BuiltinOperator.MUL : BuiltinOperator.ADD;
        if (ctx.code(reader) !== want) problems.push(`${tensorName}: read by ${BuiltinOperator[ctx.code(reader)]}, ${BuiltinOperator[want]} expected`);
        if (t.type !== TensorType.INT8) {
          problems.push(`${tensorName}: ${t.type === TensorType.FLOAT32 ? 'stayed float' : `stored as type ${t.type}`}, int8 expected`);
          continue;
        }
        const iq = integerQParams(qp, 'signed');
        const [s, z] = grid(t);
        if (s !== iq.scale[0] || z !== iq.zeroPoint[0]) problems.push(`${tensorName}: scale ${s}, zero point ${z} stored, ${iq.scale[0]}, ${iq.zeroPoint[0]} expected`);
        const values = role === 'multiplier' ? n.scale : n.offset;
        const ints = ctx.values(t);
        const expected = quantizedConstant(values, qp).ints;
        if (!ints || Array.from(ints).join() !== Array.from(expected).join()) problems.push(`${tensorName}: stored integers [${ints ? Array.from(ints).slice(0, 6) : ''}] differ from the constant's [${Array.from(expected).slice(0, 6)}]`);
        ctx.checked.push({ tensor: tensorName, kind: 'constant', dtype: 'int8', channels: 1, axis: null, range: ints ? [Math.min(...ints), Math.max(...ints)] : null });
      }
    }
    if (n.op === 'activation' && n.activation === 'leaky_relu') {
      const q = quantizerAt(lowered.plan, n.name);
      const out = q ? ctx.sg.tensors.findIndex((t) => String(t.name) === q.name) : -1;
      const producer = ctx.sg.operators.find((o) => o.outputs[0] === out);
      if (!producer || ctx.code(producer) !== BuiltinOperator.LEAKY_RELU) {
        problems.push(`${q?.name ?? n.name}: not the output of a LEAKY_RELU`);
        continue;
      }
      const alpha = (producer.builtinOptions as LeakyReluOptionsT | null)?.alpha;
      if (alpha !== Math.fround(n.alpha ?? NaN)) problems.push(`${q!.name}: LEAKY_RELU alpha ${alpha} stored, ${n.alpha} expected`);
    }
  }
}
