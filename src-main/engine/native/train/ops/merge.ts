/**
 * Element-wise ops and merges in the step graph, with their gradients:
 *  - Add (two or more inputs, summed left to right): dy to each input;
 *  - Multiply (left to right, as tfjs-layers): the product rule along the
 *    chain of partial products;
 *  - for both, Keras's broadcasting: a lower-rank input gets unit axes after
 *    the batch axis, then NumPy broadcasting (e.g. x [h,w,c] · gate [1,1,c]);
 *    the gradient of a broadcast input is summed over the axes it was
 *    broadcast along (as TF.js's mul/add gradients reduce them);
 *  - Concatenate: the gradient split back along the axis;
 *  - affine (Rescaling / Normalization): x·scale + offset on the channel
 *    axis, gradient dy·scale.
 */
import type { AddNode, AffineNode, ConcatNode, MultiplyNode } from '../../../graph/types.js';
import type { OnnxBuilder } from '../onnx-builder.js';
import { channelBroadcast, fromKeras, graphAxis, graphDims, toKeras, unsupported, type OpStep, type StepContext, type Value } from '../step-context.js';

/** An input of a broadcasting op, raised to the output's rank as Keras does (unit axes after the batch axis). */
interface Operand {
  /** In graph layout at the common rank. */
  name: string;
  /** Per-sample graph dims at the common rank. */
  dims: number[];
  /** Back from the common rank to the input's own shape and layout. */
  restore(g: string): string;
}

function operand(b: OnnxBuilder, x: Value, rank: number): Operand {
  if (x.shape.length === rank) return { name: x.name, dims: graphDims(x.shape), restore: (g) => g };
  const padded = [...Array<number>(rank - x.shape.length).fill(1), ...x.shape];
  return {
    name: fromKeras(b, b.op('Reshape', [toKeras(b, x.name, x.shape), b.i64([-1, ...padded])]), padded),
    dims: graphDims(padded),
    restore: (g) => fromKeras(b, b.op('Reshape', [toKeras(b, g, padded), b.i64([-1, ...x.shape])]), x.shape),
  };
}

/** The gradient of the output (graph dims `out`) summed down to an operand's dims (unit where it was broadcast), in the input's own shape. */
function unbroadcast(b: OnnxBuilder, g: string, out: readonly number[], x: Operand): string {
  const axes = x.dims.flatMap((d, i) => (d === 1 && out[i] !== 1 ? [i + 1] : []));
  return x.restore(axes.length > 0 ? b.op('ReduceSum', [g, b.i64(axes)], { keepdims: 1 }) : g);
}

function operands(b: OnnxBuilder, inputs: Value[]): Operand[] {
  const rank = Math.max(...inputs.map((x) => x.shape.length));
  return inputs.map((x) => operand(b, x, rank));
}

export function add(node: AddNode, inputs: Value[], ctx: StepContext): OpStep {
  const b = ctx.b;
  if (inputs.length < 2) throw unsupported(node, `adds ${inputs.length} input`);
  const xs = operands(b, inputs);
  const y = xs.slice(1).reduce((sum, x) => b.op('Add', [sum, x.name]), xs[0]!.name);
  const out = graphDims(node.outputShape);
  return {
    value: { name: y, shape: [...node.outputShape] },
    back: (dy) => xs.map((x, i) => (ctx.needDx[i] ? unbroadcast(b, dy, out, x) : null)),
  };
}

export function multiply(node: MultiplyNode, inputs: Value[], ctx: StepContext): OpStep {
  const b = ctx.b;
  if (inputs.length < 2) throw unsupported(node, `multiplies ${inputs.length} input`);
  const xs = operands(b, inputs);
  // partial[k] = x0 · x1 · … · xk.
  const partial = [xs[0]!.name];
  for (let k = 1; k < xs.length; k++) partial.push(b.op('Mul', [partial[k - 1]!, xs[k]!.name]));
  const out = graphDims(node.outputShape);
  return {
    value: { name: partial[partial.length - 1]!, shape: [...node.outputShape] },
    back: (dy) => {
      const grads: (string | null)[] = new Array(xs.length).fill(null);
      // Down the chain: d partial[k] = dp; d xk = dp · partial[k−1]; d partial[k−1] = dp · xk.
      let dp = dy;
      for (let k = xs.length - 1; k >= 1; k--) {
        if (ctx.needDx[k]) grads[k] = unbroadcast(b, b.op('Mul', [dp, partial[k - 1]!]), out, xs[k]!);
        if (!ctx.needDx.slice(0, k).some(Boolean)) break;
        dp = b.op('Mul', [dp, xs[k]!.name]);
        if (k === 1 && ctx.needDx[0]) grads[0] = unbroadcast(b, dp, out, xs[0]!);
      }
      return grads;
    },
  };
}

export function concat(node: ConcatNode, inputs: Value[], ctx: StepContext): OpStep {
  const b = ctx.b;
  const rank = inputs[0]!.shape.length;
  if (inputs.some((x) => x.shape.length !== rank)) throw unsupported(node, 'concatenates inputs of different ranks');
  const axis = graphAxis(node.axis, inputs[0]!.shape);
  if (axis === 0) throw unsupported(node, 'concatenates along the batch axis');
  const sizes = inputs.map((x) => [0, ...graphDims(x.shape)][axis]!);
  const y = b.op('Concat', inputs.map((x) => x.name), { axis });
  return {
    value: { name: y, shape: [...node.outputShape] },
    back: (dy) => {
      if (!ctx.needDx.some(Boolean)) return inputs.map(() => null);
      const parts = b.opN('Split', [dy, b.i64(sizes)], inputs.length, { axis });
      return parts.map((p, i) => (ctx.needDx[i] ? p : null));
    },
  };
}

export function affine(node: AffineNode, [x]: Value[], ctx: StepContext): OpStep {
  const b = ctx.b;
  const channels = x!.shape[x!.shape.length - 1]!;
  for (const [what, v] of [['scale', node.scale], ['offset', node.offset]] as const) {
    if (v.length !== 1 && v.length !== channels) throw unsupported(node, `has ${v.length} ${what} values for ${channels} channels`);
  }
  const vector = (v: number[]) => (v.length === 1 ? b.f32(v[0]!) : b.f32(v, channelBroadcast(x!.shape)));
  const scale = vector(node.scale);
  const y = b.op('Add', [b.op('Mul', [x!.name, scale]), vector(node.offset)]);
  return {
    value: { name: y, shape: x!.shape },
    back: (dy) => [ctx.needDx[0] ? b.op('Mul', [dy, scale]) : null],
  };
}
