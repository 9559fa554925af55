/**
 * Pooling in the step graph (NCHW): the forward is the shared lowering
 * (engine/onnx/ops/pool.ts); the gradients are those TF.js gives:
 *  - MaxPool: the gradient goes to the first maximum of each window (the one
 *    ORT's MaxPool indices name, as TF.js routes it), by MaxUnpool, or by
 *    ScatterElements adding up where windows overlap;
 *  - AveragePool: padding is not counted (TF's 'same'); each output's
 *    gradient, divided by its window's element count, spreads back over the
 *    window by a grouped ConvTranspose with a kernel of ones;
 *  - global average: dy / (H·W) to every position;
 *  - global max: dy to every position equal to the maximum (TF.js's
 *    reduction gradient: ties all get it).
 * keepdims keeps the output [1,1,C] (in the graph [C,1,1]), else [C].
 */
import type { GlobalPool2DNode, Pool2DNode } from '../../../graph/types.js';
import { convAttrs, lowerGlobalPool, lowerPool, type ConvGeometry } from '../../../onnx/ops/index.js';
import { DT } from '../../../onnx/proto.js';
import { asOnnx, imageInput, type OpStep, type StepContext, type Value } from '../step-context.js';
import { outputPadding } from './conv.js';

export function maxPool2d(node: Pool2DNode, inputs: Value[], ctx: StepContext): OpStep {
  const b = ctx.b;
  const x = imageInput(node, inputs);
  const f = lowerPool(b, node, asOnnx(x), { indices: true });
  const g = f.geometry;
  const overlapping = g.sh < g.kh || g.sw < g.kw;
  return {
    value: { name: f.value.name, shape: [...node.outputShape] },
    back: (dy) => {
      if (!ctx.needDx[0]) return [null];
      // Windows that do not overlap: MaxUnpool puts each gradient at its index (one write each, zeros elsewhere).
      if (!overlapping) return [b.op('MaxUnpool', [dy, f.indices!, b.op('Shape', [x.name])], { kernel_shape: [g.kh, g.kw], strides: [g.sh, g.sw], pads: convAttrs(g).pads })];
      const flat = b.i64([-1]);
      const zeros = b.op('ConstantOfShape', [b.op('Shape', [b.op('Reshape', [x.name, flat])])]);
      const routed = b.op('ScatterElements', [zeros, b.op('Reshape', [f.indices!, flat]), b.op('Reshape', [dy, flat])], { axis: 0, reduction: 'add' });
      return [b.op('Reshape', [routed, b.op('Shape', [x.name])])];
    },
  };
}

/** How many input elements (not padding) each output position's window covers, [oh·ow] row-major. */
function windowCounts(g: ConvGeometry): number[] {
  const span = (o: number, s: number, k: number, p0: number, size: number) => {
    const lo = o * s - p0;
    return Math.min(lo + k, size) - Math.max(lo, 0);
  };
  const out: number[] = [];
  for (let y = 0; y < g.oh; y++) for (let x = 0; x < g.ow; x++) out.push(span(y, g.sh, g.kh, g.ph0, g.h) * span(x, g.sw, g.kw, g.pw0, g.w));
  return out;
}

export function avgPool2d(node: Pool2DNode, inputs: Value[], ctx: StepContext): OpStep {
  const b = ctx.b;
  const x = imageInput(node, inputs);
  const f = lowerPool(b, node, asOnnx(x));
  const g = f.geometry;
  return {
    value: { name: f.value.name, shape: [...node.outputShape] },
    back: (dy) => {
      if (!ctx.needDx[0]) return [null];
      const counts = windowCounts(g);
      const uniform = counts.every((n) => n === counts[0]);
      const share = uniform ? b.op('Div', [dy, b.f32(counts[0]!)]) : b.op('Div', [dy, b.f32(counts, [1, 1, g.oh, g.ow])]);
      const ones = b.f32(new Array<number>(g.c * g.kh * g.kw).fill(1), [g.c, 1, g.kh, g.kw]);
      return [b.op('ConvTranspose', [share, ones], { ...convAttrs(g), group: g.c, output_padding: outputPadding(g) })];
    },
  };
}

export function globalAvgPool2d(node: GlobalPool2DNode, inputs: Value[], ctx: StepContext): OpStep {
  const b = ctx.b;
  const x = imageInput(node, inputs);
  const [h, w, c] = x.shape as [number, number, number];
  const keep = !!node.keepdims;
  const f = lowerGlobalPool(b, node, asOnnx(x));
  return {
    value: { name: f.value.name, shape: [...f.value.shape] },
    back: (dy) => {
      if (!ctx.needDx[0]) return [null];
      const dy4 = keep ? dy : b.op('Unsqueeze', [dy, b.i64([2, 3])]);
      return [b.op('Expand', [b.op('Div', [dy4, b.f32(h * w)]), b.i64([1, c, h, w])])];
    },
  };
}

export function globalMaxPool2d(node: GlobalPool2DNode, inputs: Value[], ctx: StepContext): OpStep {
  const b = ctx.b;
  const x = imageInput(node, inputs);
  const keep = !!node.keepdims;
  const f = lowerGlobalPool(b, node, asOnnx(x));
  return {
    value: { name: f.value.name, shape: [...f.value.shape] },
    back: (dy) => {
      if (!ctx.needDx[0]) return [null];
      const dy4 = keep ? dy : b.op('Unsqueeze', [dy, b.i64([2, 3])]);
      return [b.op('Mul', [dy4, b.op('Cast', [b.op('Equal', [x.name, f.pooled])], { to: DT.FLOAT })])];
    },
  };
}
