/**
 * Element-wise ops and merges in the step graph: the forward is the shared
 * lowering (engine/onnx/ops/merge.ts: Keras's broadcasting, left-to-right
 * chains); the gradients:
 *  - Add: dy to each input;
 *  - Multiply: the product rule along the chain of partial products;
 *  - for both, the gradient of a broadcast input is summed over the axes it
 *    was broadcast along (as TF.js's mul/add gradients reduce them), then
 *    brought back to the input's own shape;
 *  - Concatenate: the gradient split back along the axis;
 *  - affine (Rescaling / Normalization): dy·scale.
 */
import type { AddNode, AffineNode, ConcatNode, MultiplyNode } from '../../../graph/types.js';
import type { OnnxBuilder } from '../../../onnx/builder.js';
import { lowerAdd, lowerAffine, lowerConcat, lowerMultiply } from '../../../onnx/ops/index.js';
import { asOnnx, canonical, fromKeras, graphAxis, graphDims, toKeras, type OpStep, type StepContext, type Value } from '../step-context.js';

/** An input of a broadcasting op as the op reads it: raised to the output's rank as Keras does (unit axes after the batch axis). */
interface Operand {
  /** Per-sample graph dims at the common rank. */
  dims: number[];
  /** Back from the common rank to the input's own shape and layout. */
  restore(g: string): string;
}

function operand(b: OnnxBuilder, x: Value, rank: number): Operand {
  if (x.shape.length === rank) return { dims: graphDims(x.shape), restore: (g) => g };
  const padded = [...Array<number>(rank - x.shape.length).fill(1), ...x.shape];
  return {
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
  const f = lowerAdd(b, node, inputs.map(asOnnx));
  const xs = operands(b, inputs);
  const out = graphDims(node.outputShape);
  return {
    value: canonical(b, f.value),
    back: (dy) => xs.map((x, i) => (ctx.needDx[i] ? unbroadcast(b, dy, out, x) : null)),
  };
}

export function multiply(node: MultiplyNode, inputs: Value[], ctx: StepContext): OpStep {
  const b = ctx.b;
  const f = lowerMultiply(b, node, inputs.map(asOnnx));
  const xs = operands(b, inputs);
  // partial[k] = x0 · x1 · … · xk.
  const partial = f.partials;
  const out = graphDims(node.outputShape);
  return {
    value: canonical(b, f.value),
    back: (dy) => {
      const grads: (string | null)[] = new Array(xs.length).fill(null);
      // Down the chain: d partial[k] = dp; d xk = dp · partial[k−1]; d partial[k−1] = dp · xk.
      let dp = dy;
      for (let k = xs.length - 1; k >= 1; k--) {
        if (ctx.needDx[k]) grads[k] = unbroadcast(b, b.op('Mul', [dp, partial[k - 1]!]), out, xs[k]!);
        if (!ctx.needDx.slice(0, k).some(Boolean)) break;
        dp = b.op('Mul', [dp, f.operands[k]!.name]);
        if (k === 1 && ctx.needDx[0]) grads[0] = unbroadcast(b, dp, out, xs[0]!);
      }
      return grads;
    },
  };
}

export function concat(node: ConcatNode, inputs: Value[], ctx: StepContext): OpStep {
  const b = ctx.b;
  const f = lowerConcat(b, node, inputs.map(asOnnx));
  const axis = graphAxis(node.axis, inputs[0]!.shape);
  const sizes = inputs.map((x) => [0, ...graphDims(x.shape)][axis]!);
  return {
    value: canonical(b, f),
    back: (dy) => {
      if (!ctx.needDx.some(Boolean)) return inputs.map(() => null);
      const parts = b.opN('Split', [dy, b.i64(sizes)], inputs.length, { axis });
      return parts.map((p, i) => (ctx.needDx[i] ? p : null));
    },
  };
}

export function affine(node: AffineNode, [x]: Value[], ctx: StepContext): OpStep {
  const b = ctx.b;
  const f = lowerAffine(b, node, asOnnx(x!));
  return {
    value: canonical(b, f.value),
    back: (dy) => [ctx.needDx[0] ? b.op('Mul', [dy, f.scale]) : null],
  };
}
