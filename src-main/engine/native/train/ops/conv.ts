/**
 * Conv2D and DepthwiseConv2D in the step graph (NCHW): the forward is the
 * shared lowering (engine/onnx/ops/conv.ts: ONNX Conv, TF's 'same' pads,
 * the fused activation) of the kernel as the step holds it (TF.js layout,
 * fake-quantized under QAT) moved to ONNX's layout in the graph; the
 * gradients are written here:
 *  - input gradient: ConvTranspose with the same weight, group and pads (the
 *    output_padding restores the rows and columns a strided window never read);
 *  - Conv2D filter gradient: one GEMM of the input's shifted windows (im2col,
 *    NHWC) with the output gradient;
 *  - depthwise filter gradient: a grouped Conv (one group per channel) of
 *    the input, batch as channels, with the output gradient as its kernel.
 */
import type { Conv2DNode, DepthwiseConv2DNode } from '../../../graph/types.js';
import { onnxValue, type OnnxBuilder } from '../../../onnx/builder.js';
import { convAttrs, lowerConv, oihwKernel, type ConvGeometry } from '../../../onnx/ops/index.js';
import { asOnnx, imageInput, type OpStep, type StepContext, type Value } from '../step-context.js';
import { activationGrad } from './activation.js';

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
  imageInput(node, inputs);
  const { kernel, back: kernelBack } = ctx.kernel(node);
  const weight = oihwKernel(b, node, kernel);
  const bias = ctx.weight('bias');
  const activation = ctx.logitsHere ? 'linear' : node.activation;
  const f = lowerConv(b, node, asOnnx(inputs[0]!), { kernel: weight, ...(bias ? { bias } : {}) }, activation);
  const actGrad = activationGrad(b, node, activation, onnxValue(f.pre, node.outputShape, true), f.act);
  const g = f.geometry;
  const x = f.input;
  const depthwise = node.op === 'depthwiseConv2d';
  const mult = depthwise ? node.depthMultiplier : 1;
  const attrs = { ...convAttrs(g), ...(depthwise ? { group: g.c } : {}) };
  return {
    value: { name: f.value.name, shape: [...node.outputShape] },
    back: (dy) => {
      const dPre = actGrad(dy);
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
  return convolution(node, inputs, ctx);
}
