/**
 * Element-wise ops and merges:
 *  - Add and Multiply of two or more inputs, left to right, with Keras's
 *    broadcasting: a lower-rank input first gets unit axes after the batch
 *    axis (Reshape [0, 1, …, dims] in Keras's layout), then every input takes
 *    the layout of the first one of the highest rank, where ONNX broadcasting
 *    is NumPy's (e.g. x [h,w,c] · gate [1,1,c]);
 *  - Concatenate along the IR's axis (moved to the channel axis 1 of NCHW images);
 *  - affine (Rescaling / Normalization): x·scale + offset on the channel axis.
 */
import type { AddNode, AffineNode, ConcatNode, GraphNode, MultiplyNode } from '../../graph/types.js';
import { onnxValue, type OnnxBuilder, type OnnxValue } from '../builder.js';
import { refuse } from './common.js';

/** The inputs at the common rank, all in one layout. */
function operands(b: OnnxBuilder, n: GraphNode, args: OnnxValue[]): { values: OnnxValue[]; rank: number; nchw: boolean } {
  const rank = Math.max(...args.map((a) => a.rank));
  const raised = args.map((a, i) => {
    if (a.rank === rank) return a;
    const padded = [...new Array<number>(rank - a.rank).fill(1), ...a.shape];
    const name = b.op('Reshape', [b.layout(a, false).name, b.i64([0, ...padded], `${n.name}/expand${i}_shape`)], {}, `${n.name}/expand${i}`);
    return onnxValue(name, padded, false);
  });
  const lead = args.find((a) => a.rank === rank)!;
  const nchw = rank === 4 && lead.nchw;
  return { values: raised.map((a) => b.layout(a, nchw)), rank, nchw };
}

export interface ProductLowering {
  value: OnnxValue;
  /** The inputs as the products read them (common rank and layout). */
  operands: OnnxValue[];
  /** partials[k] = x0 · … · xk (the last one is the value). */
  partials: string[];
}

/** Σ or Π of the inputs, left to right; the last node is named after the layer. */
function chain(b: OnnxBuilder, n: AddNode | MultiplyNode, args: OnnxValue[], type: 'Add' | 'Mul'): ProductLowering {
  if (args.length < 2) throw refuse(n, `${type === 'Add' ? 'adds' : 'multiplies'} ${args.length} input`);
  const { values, nchw } = operands(b, n, args);
  const partials = [values[0]!.name];
  for (let k = 1; k < values.length; k++) partials.push(b.op(type, [partials[k - 1]!, values[k]!.name], {}, k === values.length - 1 ? n.name : `${n.name}/partial${k - 1}`));
  return { value: onnxValue(partials[partials.length - 1]!, n.outputShape, nchw), operands: values, partials };
}

export function lowerAdd(b: OnnxBuilder, n: AddNode, args: OnnxValue[]): ProductLowering {
  return chain(b, n, args, 'Add');
}

export function lowerMultiply(b: OnnxBuilder, n: MultiplyNode, args: OnnxValue[]): ProductLowering {
  return chain(b, n, args, 'Mul');
}

/** The ONNX axis (batch axis 0) of an IR axis counted with the batch axis, for a value of that layout. */
export function onnxAxis(n: GraphNode, axis: number, x: OnnxValue): number {
  const a = axis < 0 ? axis + x.rank : axis;
  if (a < 0 || a >= x.rank) throw refuse(n, `has axis ${axis}, which does not exist for shape [${x.shape.join(',')}]`);
  return x.rank === 4 && x.nchw ? [0, 2, 3, 1][a]! : a;
}

export function lowerConcat(b: OnnxBuilder, n: ConcatNode, args: OnnxValue[]): OnnxValue {
  const rank = args[0]!.rank;
  if (args.some((a) => a.rank !== rank)) throw refuse(n, 'concatenates inputs of different ranks');
  const values = args.map((a) => b.layout(a, rank === 4));
  const axis = onnxAxis(n, n.axis, values[0]!);
  if (axis === 0) throw refuse(n, 'concatenates along the batch axis');
  return onnxValue(b.op('Concat', values.map((a) => a.name), { axis }, n.name), n.outputShape, rank === 4);
}

export interface AffineLowering {
  value: OnnxValue;
  /** The scale constant (broadcasting on the channel axis). */
  scale: string;
}

/** x·scale + offset on the channel axis (axis 1 of an NCHW value, the last otherwise). */
export function lowerAffine(b: OnnxBuilder, n: AffineNode, x: OnnxValue): AffineLowering {
  const channels = x.shape[x.shape.length - 1]!;
  for (const [what, v] of [['scale', n.scale], ['offset', n.offset]] as const) {
    if (v.length !== 1 && v.length !== channels) throw refuse(n, `has ${v.length} ${what} values for ${channels} channels`);
  }
  const dims = (v: number[]) => (v.length === 1 ? [] : x.rank === 4 && x.nchw ? [v.length, 1, 1] : [v.length]);
  const p = (k: string) => `${n.name}/${k}`;
  const scale = b.f32(n.scale, dims(n.scale), p('scale'));
  const scaled = b.op('Mul', [x.name, scale], {}, p('scaled'));
  return { value: { ...x, name: b.op('Add', [scaled, b.f32(n.offset, dims(n.offset), p('offset'))], {}, n.name) }, scale };
}
