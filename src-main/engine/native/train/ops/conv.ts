/**
 * Conv2D and DepthwiseConv2D in the step graph (NCHW): the forward is the
 * shared lowering (engine/onnx/ops/conv.ts: ONNX Conv, TF's 'same' pads,
 * the fused activation) of the kernel as the step holds it (TF.js layout,
 * fake-quantized under QAT) moved to ONNX's layout in the graph, on
 * onnxruntime's NCHWc kernels where the step may use them (nchwc.ts: a
 * depthwise one, or one wider than 1×1 with whole blocks of channels);
 * the gradients are written here:
 *  - input gradient: for stride 1, a Conv of dy with the kernel flipped
 *    (NCHWc where the forward is), also for a strided depthwise one on
 *    NCHWc (dy spread onto the stride-1 grid); else ConvTranspose
 *    with the same weight, group and pads (the output_padding restores the
 *    rows and columns a strided window never read);
 *  - Conv2D filter gradient: GEMMs of the input's shifted windows (im2col,
 *    NCHW) with the output gradient;
 *  - depthwise filter gradient: on NCHWc kernels where the step may use them
 *    (nchwc.ts), else a grouped Conv (one group per channel) of the input,
 *    batch as channels, with the output gradient as its kernel.
 * A linear convolution takes its output gradient as t·scale per channel from
 * the BatchNorm after it (StepContext's ScaledGrad) and folds the factor into
 * its kernel gradient and the weights its input gradient reads.
 */
import type { Conv2DNode, DepthwiseConv2DNode } from '../../../graph/types.js';
import { onnxValue, type OnnxBuilder } from '../../../onnx/builder.js';
import { convAttrs, lowerConv, oihwKernel, type ConvEmitter, type ConvGeometry } from '../../../onnx/ops/index.js';
import { nchwcConv, nchwcConvApplies, nchwcDepthwiseApplies, nchwcDepthwiseConv, nchwcDepthwiseFilterGradient } from '../nchwc.js';
import { asOnnx, imageInput, type OpStep, type ScaledGrad, type StepContext, type Value } from '../step-context.js';
import { activationGrad, reluClip } from './activation.js';

/** ConvTranspose's output_padding giving back the input's height and width. */
export function outputPadding(g: ConvGeometry): number[] {
  return [g.h - (g.sh * (g.oh - 1) + (g.kh - 1) * g.dh + 1 - g.ph0 - g.ph1), g.w - (g.sw * (g.ow - 1) + (g.kw - 1) * g.dw + 1 - g.pw0 - g.pw1)];
}

/** Up to this many im2col columns, a one-hot Conv writes them (see columns). */
const ONE_HOT_COLUMNS = 64;

/**
 * The input's im2col in NCHW: the kh·kw shifted, strided windows of the
 * zero-padded x side by side on the channel axis, [N, kh·kw·C, oh·ow] with
 * channel (a·kw + b)·C + c, the row order of an HWIO kernel (x itself for a
 * 1×1 kernel with stride 1).
 */
function columns(b: OnnxBuilder, x: string, g: ConvGeometry): string {
  const shape = b.i64([0, g.kh * g.kw * g.c, g.oh * g.ow]);
  if (g.kh * g.kw === 1 && g.sh === 1 && g.sw === 1 && g.ph0 + g.ph1 + g.pw0 + g.pw1 === 0) return b.op('Reshape', [x, shape]);
  const k = g.kh * g.kw * g.c;
  if (k <= ONE_HOT_COLUMNS) {
    // Few columns (an RGB stem): a Conv whose kernel picks one tap per output channel writes them all in one
    // pass (onnxruntime's strided Slices are slow); x·1 plus zeros is x exactly.
    const pick = new Array<number>(k * k).fill(0);
    for (let a = 0; a < g.kh; a++) for (let c = 0; c < g.kw; c++) for (let i = 0; i < g.c; i++) pick[((a * g.kw + c) * g.c + i) * k + (i * g.kh + a) * g.kw + c] = 1;
    return b.op('Reshape', [b.op('Conv', [x, b.f32(pick, [k, g.c, g.kh, g.kw])], { ...convAttrs(g), kernel_shape: [g.kh, g.kw] }), shape]);
  }
  const padded = g.ph0 + g.ph1 + g.pw0 + g.pw1 > 0 ? b.op('Pad', [x, b.i64([0, 0, g.ph0, g.pw0, 0, 0, g.ph1, g.pw1])]) : x;
  const out: string[] = [];
  for (let a = 0; a < g.kh; a++) {
    for (let c = 0; c < g.kw; c++) {
      const starts = [a * g.dh, c * g.dw];
      const ends = [starts[0]! + g.sh * (g.oh - 1) + 1, starts[1]! + g.sw * (g.ow - 1) + 1];
      out.push(b.op('Slice', [padded, b.i64(starts), b.i64(ends), b.i64([2, 3]), b.i64([g.sh, g.sw])]));
    }
  }
  return b.op('Reshape', [out.length === 1 ? out[0]! : b.op('Concat', out, { axis: 1 }), shape]);
}

/**
 * dK[a,b,i,o] = Σ_n,y,x xpad[n, i, y·s+a·d, x·s+b·d] · dy[n,o,y,x]: the
 * columns (im2col, NCHW) times dy, as TF.js's HWIO kernel. Where the kernel
 * is smaller than a spatial map (O < oh·ow, most layers) one GEMM per sample
 * ([K, P]·[P, O], MatMul with dy transposed, which onnxruntime runs as one
 * FusedMatMul without moving dy) summed over the batch is cheapest; else the
 * columns and dy are moved once to [K, N·P] and [O, N·P] for a single GEMM
 * (no per-sample kernels to add up).
 */
function convFilterGradient(b: OnnxBuilder, x: string, dy: string, g: ConvGeometry): string {
  const k = g.kh * g.kw * g.c;
  const p = g.oh * g.ow;
  const cols = columns(b, x, g);
  const dy3 = b.op('Reshape', [dy, b.i64([0, g.o, p])]);
  const dK =
    g.o < p
      ? b.op('ReduceSum', [b.op('MatMul', [cols, b.op('Transpose', [dy3], { perm: [0, 2, 1] })]), b.i64([0])], { keepdims: 0 })
      : b.op('MatMul', [
          b.op('Reshape', [b.op('Transpose', [cols], { perm: [1, 0, 2] }), b.i64([k, -1])]),
          b.op('Transpose', [b.op('Reshape', [b.op('Transpose', [dy3], { perm: [1, 0, 2] }), b.i64([g.o, -1])])]),
        ]);
  return b.op('Reshape', [dK, b.i64([g.kh, g.kw, g.c, g.o])]);
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

/**
 * The input gradient of a stride-1 convolution as a forward Conv of dy with
 * the kernel flipped in space and its in/out channels swapped (per group:
 * a depthwise kernel's output channel c·mult+m becomes input m of group c),
 * padded so every input row and column gets its full sum: (kh−1)·d − top
 * before, H + top − oh after. onnxruntime runs this several times faster
 * than ConvTranspose (a GEMM and a col2im, per group for a depthwise one).
 * A strided depthwise one on NCHWc kernels too: dy spread onto the
 * stride-1 output grid (s·oh × s·ow, zeros between: a nearest up-sampling
 * times a 0/1 grid) is the gradient of the stride-1 convolution whose
 * every s-th output the strided one keeps, twice as fast as ConvTranspose
 * at 112×112. Null for other strides, or a padding that would be negative
 * (a window reaching past the kernel's span), where ConvTranspose stays.
 * `weight` is in ONNX's layout, `kernel` gives it in TF.js's (what the
 * NCHWc path reorders).
 */
function convInputGradient(b: OnnxBuilder, dy: string, weight: string, kernel: () => string, g: ConvGeometry, depthwise: boolean, mult: number, block: number | null): string | null {
  if (g.sh !== 1 || g.sw !== 1) {
    if (!depthwise || !nchwcDepthwiseApplies(g, mult, block)) return null;
    const dense: ConvGeometry = { ...g, oh: g.sh * g.oh, ow: g.sw * g.ow, sh: 1, sw: 1 };
    if (g.h + g.ph0 < dense.oh || g.w + g.pw0 < dense.ow || (g.kh - 1) * g.dh < g.ph0 || (g.kw - 1) * g.dw < g.pw0) return null;
    const grid = new Float32Array(dense.oh * dense.ow);
    for (let y = 0; y < dense.oh; y += g.sh) for (let x = 0; x < dense.ow; x += g.sw) grid[y * dense.ow + x] = 1;
    const repeated = b.op('Resize', [dy, '', b.f32([1, 1, g.sh, g.sw])], { mode: 'nearest', nearest_mode: 'floor', coordinate_transformation_mode: 'asymmetric' });
    return convInputGradient(b, b.op('Mul', [repeated, b.f32(grid, [1, 1, dense.oh, dense.ow])]), weight, kernel, dense, depthwise, mult, block);
  }
  const pads = [(g.kh - 1) * g.dh - g.ph0, (g.kw - 1) * g.dw - g.pw0, g.h + g.ph0 - g.oh, g.w + g.pw0 - g.ow];
  if (pads.some((p) => p < 0)) return null;
  // On NCHWc kernels, the same correlation with the TF.js kernel [kh, kw, I, O] flipped in space
  // (a convolution's run from its O channels to its I).
  const nchwcBlock = (depthwise ? nchwcDepthwiseApplies(g, mult, block) : nchwcConvApplies(g, block)) ? block : null;
  if (nchwcBlock !== null) {
    const flippedKernel = b.op('Slice', [kernel(), b.i64([-1, -1]), b.i64([-g.kh - 1, -g.kw - 1]), b.i64([0, 1]), b.i64([-1, -1])]);
    const attrs = { kernel_shape: [g.kh, g.kw], strides: [1, 1], dilations: [g.dh, g.dw], pads };
    return depthwise ? nchwcDepthwiseConv(b, dy, flippedKernel, undefined, attrs, g, nchwcBlock).y : nchwcConv(b, dy, flippedKernel, undefined, attrs, g, nchwcBlock, true);
  }
  const flipped = g.kh * g.kw === 1 ? weight : b.op('Slice', [weight, b.i64([-1, -1]), b.i64([-g.kh - 1, -g.kw - 1]), b.i64([2, 3]), b.i64([-1, -1])]);
  // [out, in/group, kh, kw] → [in, out/group, kh, kw]: depthwise [C·mult, 1] is [C, mult] as it lies.
  const swapped = depthwise ? (mult === 1 ? flipped : b.op('Reshape', [flipped, b.i64([g.c, mult, g.kh, g.kw])])) : b.op('Transpose', [flipped], { perm: [1, 0, 2, 3] });
  return b.op('Conv', [dy, swapped], { group: depthwise ? g.c : 1, strides: [1, 1], dilations: [g.dh, g.dw], pads });
}

/** The step of a Conv2D or DepthwiseConv2D: the convolution, bias, fused activation, and their gradients. */
function convolution(node: Conv2DNode | DepthwiseConv2DNode, inputs: Value[], ctx: StepContext): OpStep {
  const b = ctx.b;
  imageInput(node, inputs);
  const { kernel, back: kernelBack } = ctx.kernel(node);
  const weight = oihwKernel(b, node, kernel);
  const bias = ctx.weight('bias');
  const activation = ctx.logitsHere ? 'linear' : node.activation;
  const depthwise = node.op === 'depthwiseConv2d';
  const mult = depthwise ? node.depthMultiplier : 1;
  const block = ctx.nchwcBlock;
  // A depthwise convolution on NCHWc kernels where it can (nchwc.ts), keeping x in NCHWc for its filter gradient.
  let blockedX: string | null = null;
  // A convolution with whole blocks of channels on them too (nchwcConv).
  const onNchwc: ConvEmitter = (input, w, attrs, geometry) => {
    if (!depthwise && nchwcConvApplies(geometry, block)) return nchwcConv(b, input, kernel, w.bias, attrs, geometry, block);
    if (depthwise && nchwcDepthwiseApplies(geometry, mult, block)) {
      const conv = nchwcDepthwiseConv(b, input, kernel, w.bias, attrs, geometry, block);
      blockedX = conv.blockedX;
      return conv.y;
    }
    return b.op('Conv', [input, w.kernel, ...(w.bias ? [w.bias] : [])], attrs);
  };
  const f = lowerConv(b, node, asOnnx(inputs[0]!), { kernel: weight, ...(bias ? { bias } : {}) }, activation, onNchwc, ctx.zeroPads);
  const actGrad = activationGrad(b, node, activation, onnxValue(f.pre, node.outputShape, true), f.act);
  const g = f.geometry;
  const x = f.input;
  const attrs = { ...convAttrs(g), ...(depthwise ? { group: g.c } : {}) };
  // The gradients from the pre-activation's gradient dPre, or from dPre·scale per output channel with the
  // factor folded into the small tensors (the kernel gradient, the bias gradient and the weights dx reads).
  const fromPre = (dPre: string, scale?: string): (string | null)[] => {
    const scaled = (t: string, dims: number[]) => (scale ? b.op('Mul', [t, b.op('Reshape', [scale, b.i64(dims)])]) : t);
    // Output channel c·mult + m of a depthwise kernel [kh, kw, C, mult] is [C, mult] as it lies; a conv's is the last axis.
    const perOutput = depthwise ? [g.c, mult] : [g.o];
    if (bias) ctx.addGrad('bias', scaled(b.op('ReduceSum', [dPre, b.i64([0, 2, 3])], { keepdims: 0 }), [g.o]));
    kernelBack(
      scaled(
        !depthwise ? convFilterGradient(b, x.name, dPre, g) : blockedX ? nchwcDepthwiseFilterGradient(b, blockedX, dPre, g, block!) : depthwiseFilterGradient(b, x.name, dPre, g, mult),
        perOutput,
      ),
    );
    if (!ctx.needDx[0]) return [null];
    const w = scaled(weight, [g.o, 1, 1, 1]);
    return [convInputGradient(b, dPre, w, () => scaled(kernel, perOutput), g, depthwise, mult, block) ?? b.op('ConvTranspose', [dPre, w], { ...attrs, output_padding: outputPadding(g) })];
  };
  return {
    value: { name: f.value.name, shape: [...node.outputShape] },
    back: (dy) => fromPre(actGrad(dy)),
    ...(activation === 'relu6' || activation === 'relu' ? { clip: reluClip(activation, f.pre, (dPre) => fromPre(dPre)) } : {}),
    ...(activation === 'linear' ? { backFromScaled: (dy: ScaledGrad) => fromPre(dy.t, dy.scale) } : {}),
  };
}

export function conv2d(node: Conv2DNode, inputs: Value[], ctx: StepContext): OpStep {
  return convolution(node, inputs, ctx);
}

export function depthwiseConv2d(node: DepthwiseConv2DNode, inputs: Value[], ctx: StepContext): OpStep {
  return convolution(node, inputs, ctx);
}
