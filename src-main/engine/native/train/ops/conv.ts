/**
 * Conv2D and DepthwiseConv2D in the step graph (NCHW), with their gradients:
 *  - forward: ONNX Conv with the kernel in OIHW ([in·mult,1,kh,kw] and
 *    group = in for depthwise, output channel c·mult + m as in TF), TF's
 *    'same' padding as explicit pads (more at the bottom/right);
 *  - input gradient: ConvTranspose with the same weight, group and pads (the
 *    output_padding restores the rows and columns a strided window never read);
 *  - Conv2D filter gradient: one GEMM of the input's shifted windows (im2col,
 *    NHWC) with the output gradient;
 *  - depthwise filter gradient: a grouped Conv (one group per channel) of
 *    the input, batch as channels, with the output gradient as its kernel.
 */
import { samePads } from '../../../onnx/padding.js';
import type { Conv2DNode, DepthwiseConv2DNode } from '../../../graph/types.js';
import type { OnnxBuilder } from '../onnx-builder.js';
import { graphDims, imageInput, unsupported, type OpStep, type StepContext, type Value } from '../step-context.js';
import { fusedActivation } from './activation.js';

/** Sizes of one 2-D convolution or pooling window sweep (input c×h×w, output o×oh×ow). */
export interface ConvGeometry {
  c: number;
  h: number;
  w: number;
  o: number;
  oh: number;
  ow: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  /** Padding top, bottom, left, right. */
  ph0: number;
  ph1: number;
  pw0: number;
  pw1: number;
}

export function convGeometry(input: readonly number[], output: readonly number[], k: readonly [number, number], s: readonly [number, number], d: readonly [number, number], padding: 'same' | 'valid'): ConvGeometry {
  const [h, w, c] = input as [number, number, number];
  const [oh, ow, o] = output as [number, number, number];
  const [ph0, ph1] = padding === 'same' ? samePads(h, k[0], s[0], d[0]) : [0, 0];
  const [pw0, pw1] = padding === 'same' ? samePads(w, k[1], s[1], d[1]) : [0, 0];
  return { c, h, w, o, oh, ow, kh: k[0], kw: k[1], sh: s[0], sw: s[1], dh: d[0], dw: d[1], ph0, ph1, pw0, pw1 };
}

/** Conv / ConvTranspose attributes of a geometry. */
export function convAttrs(g: ConvGeometry): { strides: number[]; dilations: number[]; pads: number[] } {
  return { strides: [g.sh, g.sw], dilations: [g.dh, g.dw], pads: [g.ph0, g.pw0, g.ph1, g.pw1] };
}

/** ConvTranspose's output_padding giving back the input's height and width. */
export function outputPadding(g: ConvGeometry): number[] {
  return [g.h - (g.sh * (g.oh - 1) + (g.kh - 1) * g.dh + 1 - g.ph0 - g.ph1), g.w - (g.sw * (g.ow - 1) + (g.kw - 1) * g.dw + 1 - g.pw0 - g.pw1)];
}

/** The kh·kw shifted, strided windows of the zero-padded input x (NHWC), each [N,oh,ow,C], in kernel order (a, b). */
function windows(b: OnnxBuilder, x: string, g: ConvGeometry): string[] {
  const padded = g.ph0 + g.ph1 + g.pw0 + g.pw1 > 0 ? b.op('Pad', [x, b.i64([0, g.ph0, g.pw0, 0, 0, g.ph1, g.pw1, 0])]) : x;
  const out: string[] = [];
  for (let a = 0; a < g.kh; a++) {
    for (let c = 0; c < g.kw; c++) {
      const starts = [a * g.dh, c * g.dw];
      const ends = [starts[0]! + g.sh * (g.oh - 1) + 1, starts[1]! + g.sw * (g.ow - 1) + 1];
      out.push(b.op('Slice', [padded, b.i64(starts), b.i64(ends), b.i64([1, 2]), b.i64([g.sh, g.sw])]));
    }
  }
  return out;
}

/**
 * dK[a,b,i,o] = Σ_n,y,x xpad[n, y·s+a·d, x·s+b·d, i] · dy[n,y,x,o], as one
 * GEMM: the input's kh·kw shifted (strided) windows side by side in NHWC
 * ("im2col", columns ordered a, b, i like an HWIO kernel) times dy, so the
 * result is the kernel gradient in TF.js's layout. (A Conv over the batch
 * computes the same, but as a GEMM only kh·kw wide, which MLAS runs slowly.)
 */
function convFilterGradient(b: OnnxBuilder, x: string, dy: string, g: ConvGeometry): string {
  const w = windows(b, b.op('Transpose', [x], { perm: [0, 2, 3, 1] }), g);
  const cols = b.op('Reshape', [w.length === 1 ? w[0]! : b.op('Concat', w, { axis: 3 }), b.i64([-1, g.kh * g.kw * g.c])]);
  const dy2d = b.op('Reshape', [b.op('Transpose', [dy], { perm: [0, 2, 3, 1] }), b.i64([-1, g.o])]);
  return b.op('Reshape', [b.op('Gemm', [cols, dy2d], { transA: 1 }), b.i64([g.kh, g.kw, g.c, g.o])]);
}

/**
 * dK[a,b,c,m] = Σ_n,y,x xpad[n, c, y·s+a·d, x·s+b·d] · dy[n, c·mult+m, y, x]
 * as one grouped Conv with the batch as channels: the input x as
 * [1, C·N, H, W] (channel c·N + n), the output gradient as its weight
 * [C·mult, N, oh, ow], group = C; the forward's stride becomes the Conv's
 * dilation and its dilation the Conv's stride, its padding the Conv's. The
 * result [1, C·mult, ≥kh, ≥kw] (more when a strided window left rows
 * unread) is cut to kh×kw and laid out as TF.js's [kh,kw,C,mult].
 */
function depthwiseFilterGradient(b: OnnxBuilder, x: string, dy: string, g: ConvGeometry, mult: number): string {
  const input = b.op('Reshape', [b.op('Transpose', [x], { perm: [1, 0, 2, 3] }), b.i64([1, -1, g.h, g.w])]);
  const weight = b.op('Transpose', [dy], { perm: [1, 0, 2, 3] });
  const out = b.op('Conv', [input, weight], { group: g.c, strides: [g.dh, g.dw], dilations: [g.sh, g.sw], pads: [g.ph0, g.pw0, g.ph1, g.pw1] });
  const cut = b.op('Slice', [out, b.i64([0, 0]), b.i64([g.kh, g.kw]), b.i64([2, 3])]);
  return b.op('Transpose', [b.op('Reshape', [cut, b.i64([g.c, mult, g.kh, g.kw])])], { perm: [2, 3, 0, 1] });
}

/** The step of a Conv2D or DepthwiseConv2D: the convolution, bias, fused activation, and their gradients. */
function convolution(node: Conv2DNode | DepthwiseConv2DNode, inputs: Value[], ctx: StepContext): OpStep {
  const b = ctx.b;
  const x = imageInput(node, inputs);
  const g = convGeometry(x.shape, node.outputShape, node.kernelSize, node.strides, node.dilation, node.padding);
  const depthwise = node.op === 'depthwiseConv2d';
  const mult = depthwise ? node.depthMultiplier : 1;
  const group = depthwise ? g.c : 1;
  const { kernel, back: kernelBack } = ctx.kernel(node);
  // OIHW: conv [kh,kw,in,out] → [out,in,kh,kw]; depthwise [kh,kw,in,mult] → [in·mult,1,kh,kw].
  const weight = depthwise
    ? b.op('Reshape', [b.op('Transpose', [b.op('Reshape', [kernel, b.i64([g.kh, g.kw, g.c * mult])])], { perm: [2, 0, 1] }), b.i64([g.c * mult, 1, g.kh, g.kw])])
    : b.op('Transpose', [kernel], { perm: [3, 2, 0, 1] });
  const bias = ctx.weight('bias');
  const attrs = { ...convAttrs(g), ...(depthwise ? { group } : {}) };
  const pre = b.op('Conv', [x.name, weight, ...(bias ? [bias] : [])], attrs);
  const act = fusedActivation(ctx, node, pre, node.outputShape);
  return {
    value: { name: act.y, shape: [...node.outputShape] },
    back: (dy) => {
      const dPre = act.grad(dy);
      if (bias) ctx.addGrad('bias', b.op('ReduceSum', [dPre, b.i64([0, 2, 3])], { keepdims: 0 }));
      kernelBack(depthwise ? depthwiseFilterGradient(b, x.name, dPre, g, mult) : convFilterGradient(b, x.name, dPre, g));
      if (!ctx.needDx[0]) return [null];
      return [b.op('ConvTranspose', [dPre, weight], { ...attrs, output_padding: outputPadding(g) })];
    },
  };
}

export function conv2d(node: Conv2DNode, inputs: Value[], ctx: StepContext): OpStep {
  return convolution(node, inputs, ctx);
}

export function depthwiseConv2d(node: DepthwiseConv2DNode, inputs: Value[], ctx: StepContext): OpStep {
  const [c] = graphDims(inputs[0]!.shape);
  if (node.weights.kernel.shape[2] !== c) throw unsupported(node, `has a kernel for ${node.weights.kernel.shape[2]} input channels but gets ${c}`);
  return convolution(node, inputs, ctx);
}
