/**
 * Convolutions of the training step on onnxruntime's NCHWc kernels
 * (the com.microsoft.nchwc operators its graph optimizer puts in inference
 * graphs on x86 with AVX2 / AVX-512, but only for constant weights, which a
 * training step's are not). A (group 1) convolution wider than 1×1 with
 * whole blocks of channels runs its forward and stride-1 input gradient
 * there (~1.7x onnxruntime's im2col Conv on the sample CNN's 32→64 3×3),
 * the kernel moved to the filter format OIHWBiBo by a Transpose each step.
 * Depthwise ones: the forward and stride-1 input gradient several
 * times faster than onnxruntime's grouped Conv, and above all the filter
 * gradient, which the portable formulation (ops/conv.ts: a grouped Conv with
 * the batch as channels) runs as an im2col nine times the input's size and
 * GEMMs only kh·kw wide:
 *
 *   dK[c,a,b] = Σ_n,y,x xpad[n, c, y·s+a·d, x·s+b·d] · dy[n, c, y, x]
 *
 * is, per sample n, a depthwise correlation of x_n with dy_n as its kernel
 * (stride and dilation swapped), which NCHWc's direct depthwise kernel
 * computes without any im2col. The kernel changes with the sample and the
 * batch size is not fixed in the step graph, so a Scan runs one sample per
 * iteration; the per-sample results add up after it.
 *
 * NCHWc holds channels in blocks of B (the CPU's block size) innermost: the
 * forward convolution runs there and leaves x in NCHWc for the filter
 * gradient; ReorderInput moves dy there, where each sample ([C/B][oh][ow][B])
 * is in the depthwise filter format OIHWBo; the small result comes back by a
 * Transpose. Whether the kernels exist, and B, are found by running these
 * very formulations on a small case against the definitions
 * (nchwcBlockSize), once per process; without them (other CPUs, builds) the
 * step graph keeps standard ONNX operators.
 */
import type * as Ort from 'onnxruntime-node';
import { OnnxBuilder, encodeModel } from '../../onnx/builder.js';
import type { ConvGeometry } from '../../onnx/ops/index.js';

export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

/** Whether the NCHWc formulation applies: channel multiplier 1 and whole blocks of channels. */
export function nchwcDepthwiseApplies(g: ConvGeometry, mult: number, block: number | null): block is number {
  return block !== null && mult === 1 && g.c % block === 0;
}

/** Each value's NCHWc copy per graph: the filter and input gradients of a depthwise convolution both read dy there. */
const blockedCopies = new WeakMap<OnnxBuilder, Map<string, string>>();

/** x [N, C, H, W] in NCHWc, one ReorderInput per value and graph (onnxruntime does not merge equal contrib nodes). */
function blocked(b: OnnxBuilder, x: string): string {
  let copies = blockedCopies.get(b);
  if (!copies) blockedCopies.set(b, (copies = new Map()));
  let out = copies.get(x);
  if (!out) copies.set(x, (out = b.opIn(NCHWC_DOMAIN, 'ReorderInput', [x], 1)[0]!));
  return out;
}

/** Numbers the Scan bodies (subgraph names are unique in a model). */
let scans = 0;

/**
 * The forward depthwise convolution (multiplier 1) on NCHWc kernels: x
 * [N, C, H, W] to NCHWc, the TF.js kernel [kh, kw, C, 1] laid out as OIHWBo
 * ([C/B][kh][kw][B], a Transpose of [kh·kw, C/B, B]), the Conv, back to NCHW.
 * Returns the output and x in NCHWc, which the filter gradient reads.
 */
export function nchwcDepthwiseConv(b: OnnxBuilder, x: string, kernel: string, bias: string | undefined, attrs: { kernel_shape: number[]; strides: number[]; dilations: number[]; pads: number[] }, g: ConvGeometry, block: number): { y: string; blockedX: string } {
  const blockedX = blocked(b, x);
  const w = b.op('Reshape', [b.op('Transpose', [b.op('Reshape', [kernel, b.i64([g.kh * g.kw, g.c / block, block])])], { perm: [1, 0, 2] }), b.i64([g.c, 1, g.kh, g.kw])]);
  const [conv] = b.opIn(NCHWC_DOMAIN, 'Conv', [blockedX, w, ...(bias ? [bias] : [])], 1, { ...attrs, group: g.c });
  const [y] = b.opIn(NCHWC_DOMAIN, 'ReorderOutput', [conv!], 1, { channels: g.c });
  return { y: y!, blockedX };
}

/**
 * dK as TF.js's [kh, kw, C, 1] from x [N, C, H, W] in NCHWc (`blockedX`) and
 * dy [N, C, oh, ow] (NCHW) for a depthwise convolution of geometry g,
 * multiplier 1, on NCHWc kernels of block size `block`.
 */
export function nchwcDepthwiseFilterGradient(b: OnnxBuilder, blockedX: string, dy: string, g: ConvGeometry, block: number): string {
  const p = `dwgrad${scans++}/`;
  const blocks = g.c / block;
  // The correlation's output size: input h + pads, "kernel" oh dilated by the stride, stepped by the dilation.
  const kh = Math.floor((g.h + g.ph0 + g.ph1 - g.sh * (g.oh - 1) - 1) / g.dh) + 1;
  const kw = Math.floor((g.w + g.pw0 + g.pw1 - g.sw * (g.ow - 1) - 1) / g.dw) + 1;
  // Per sample, already in NCHWc: x_n as [1, C, H, W], and dy_n, which in NCHWc ([C/B][oh][ow][B]) is the
  // depthwise filter format OIHWBo of a [C, 1, oh, ow] kernel. (A sample of an NCHWc tensor is one too, N outermost.)
  const samples = b.op('Reshape', [blockedX, b.i64([0, 1, g.c, g.h, g.w])]);
  const filters = b.op('Reshape', [blocked(b, dy), b.i64([0, g.c, 1, g.oh, g.ow])]);
  const body = new OnnxBuilder('fresh', p);
  const xi = body.input(`${p}x`, [1, g.c, g.h, g.w]);
  const wi = body.input(`${p}dy`, [g.c, 1, g.oh, g.ow]);
  const attrs = { kernel_shape: [g.oh, g.ow], group: g.c, strides: [g.dh, g.dw], dilations: [g.sh, g.sw], pads: [g.ph0, g.pw0, g.ph1, g.pw1] };
  const [corr] = body.opIn(NCHWC_DOMAIN, 'Conv', [xi, wi], 1, attrs);
  body.output(`${p}dk`, corr!);
  const [perSample] = b.opIn('', 'Scan', [samples, filters], 1, { num_scan_inputs: 2 }, { body: body.subgraph(`${p}body`, b) });
  // Σ over samples, still blocked [C/B][kh'][kw'][B] → [C, kh', kw'] → cut to kh × kw → [kh, kw, C, 1].
  const summed = b.op('ReduceSum', [perSample!, b.i64([0])], { keepdims: 0 });
  const plain = b.op('Reshape', [b.op('Transpose', [b.op('Reshape', [summed, b.i64([blocks, kh * kw, block])])], { perm: [0, 2, 1] }), b.i64([g.c, kh, kw])]);
  const cut = kh === g.kh && kw === g.kw ? plain : b.op('Slice', [plain, b.i64([0, 0]), b.i64([g.kh, g.kw]), b.i64([1, 2])]);
  return b.op('Reshape', [b.op('Transpose', [cut], { perm: [1, 2, 0] }), b.i64([g.kh, g.kw, g.c, 1])]);
}

/** Whether a (group 1) convolution runs on NCHWc: a kernel wider than 1×1 (a 1×1 one is a plain GEMM already), input and output channels in whole blocks. */
export function nchwcConvApplies(g: ConvGeometry, block: number | null): block is number {
  return block !== null && g.kh * g.kw > 1 && g.c % block === 0 && g.o % block === 0;
}

/**
 * A TF.js kernel [kh, kw, I, O] as NCHWc's filter format OIHWBiBo
 * ([O/B][I/B][kh][kw][Bi][Bo], a Transpose of [kh, kw, I/B, B, O/B, B]).
 * `swapped`: the kernel of the input gradient, O its input channels and I
 * its output channels ([I/B][O/B][kh][kw][Bo][Bi]).
 */
function blockedFilter(b: OnnxBuilder, kernel: string, g: ConvGeometry, block: number, swapped: boolean): string {
  const six = b.op('Reshape', [kernel, b.i64([g.kh, g.kw, g.c / block, block, g.o / block, block])]);
  const perm = swapped ? [2, 4, 0, 1, 5, 3] : [4, 2, 0, 1, 3, 5];
  return b.op('Reshape', [b.op('Transpose', [six], { perm }), b.i64(swapped ? [g.c, g.o, g.kh, g.kw] : [g.o, g.c, g.kh, g.kw])]);
}

/**
 * A convolution (group 1) of x [N, C, H, W] on NCHWc kernels: x to NCHWc,
 * the TF.js kernel to OIHWBiBo, the Conv, back to NCHW. `swapped` runs the
 * kernel the other way (O channels in, I out: the stride-1 input gradient,
 * the kernel flipped in space by the caller). Onnxruntime's own NCHWc pass
 * does this for constant weights only; a training step's change every step.
 */
export function nchwcConv(b: OnnxBuilder, x: string, kernel: string, bias: string | undefined, attrs: { kernel_shape: number[]; strides: number[]; dilations: number[]; pads: number[] }, g: ConvGeometry, block: number, swapped = false): string {
  const [conv] = b.opIn(NCHWC_DOMAIN, 'Conv', [blocked(b, x), blockedFilter(b, kernel, g, block, swapped), ...(bias ? [bias] : [])], 1, { ...attrs, group: 1 });
  const [y] = b.opIn(NCHWC_DOMAIN, 'ReorderOutput', [conv!], 1, { channels: swapped ? g.c : g.o });
  return y!;
}

/** A small strided, padded case, for the probe. */
function probeGeometry(c: number): ConvGeometry {
  return { c, h: 7, w: 6, o: c, oh: 4, ow: 3, kh: 3, kw: 3, sh: 2, sw: 2, dh: 1, dw: 1, ph0: 1, ph1: 1, pw0: 0, pw1: 1 };
}

/**
 * Every in-range tap of a convolution of geometry g with `outputs` output
 * channels: f(sample, output channel, flat output index, a, b, iy, ix).
 */
function forEachTap(n: number, outputs: number, g: ConvGeometry, f: (s: number, o: number, out: number, a: number, b: number, iy: number, ix: number) => void): void {
  for (let s = 0; s < n; s++)
    for (let o = 0; o < outputs; o++)
      for (let oy = 0; oy < g.oh; oy++)
        for (let ox = 0; ox < g.ow; ox++)
          for (let a = 0; a < g.kh; a++)
            for (let b = 0; b < g.kw; b++) {
              const iy = oy * g.sh + a * g.dh - g.ph0;
              const ix = ox * g.sw + b * g.dw - g.pw0;
              if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) f(s, o, ((s * outputs + o) * g.oh + oy) * g.ow + ox, a, b, iy, ix);
            }
}

/** The probe's depthwise forward output [N, C, oh, ow] and dK [kh, kw, C] by the definitions, in float64. */
function reference(x: Float32Array, k: Float32Array, dy: Float32Array, n: number, g: ConvGeometry): { y: Float64Array; dk: Float64Array } {
  const y = new Float64Array(n * g.c * g.oh * g.ow);
  const dk = new Float64Array(g.kh * g.kw * g.c);
  forEachTap(n, g.c, g, (s, c, out, a, b, iy, ix) => {
    const xv = x[((s * g.c + c) * g.h + iy) * g.w + ix]!;
    const kidx = (a * g.kw + b) * g.c + c;
    y[out]! += xv * k[kidx]!;
    dk[kidx]! += xv * dy[out]!;
  });
  return { y, dk };
}

/** The probe's (group 1) convolution [N, O, oh, ow] of x with a TF.js kernel [kh, kw, C, O], in float64. */
function convReference(x: Float32Array, k: Float32Array, n: number, g: ConvGeometry): Float64Array {
  const y = new Float64Array(n * g.o * g.oh * g.ow);
  forEachTap(n, g.o, g, (s, o, out, a, b, iy, ix) => {
    for (let c = 0; c < g.c; c++) y[out]! += x[((s * g.c + c) * g.h + iy) * g.w + ix]! * k[((a * g.kw + b) * g.c + c) * g.o + o]!;
  });
  return y;
}

const close = (got: Float32Array, ref: Float64Array) => got.length === ref.length && ref.every((v, i) => Math.abs(got[i]! - v) <= 1e-5 * (1 + Math.abs(v)));

/** Whether the forward and filter gradient with block size B give the definitions' numbers on a small case. */
async function agrees(ort: typeof Ort, block: number): Promise<boolean> {
  const g = probeGeometry(2 * block);
  const n = 3;
  const b = new OnnxBuilder();
  b.input('x', ['N', g.c, g.h, g.w]);
  b.input('k', [g.kh, g.kw, g.c, 1]);
  b.input('dy', ['N', g.c, g.oh, g.ow]);
  const attrs = { kernel_shape: [g.kh, g.kw], strides: [g.sh, g.sw], dilations: [g.dh, g.dw], pads: [g.ph0, g.pw0, g.ph1, g.pw1] };
  const conv = nchwcDepthwiseConv(b, 'x', 'k', undefined, attrs, g, block);
  b.output('y', conv.y);
  b.output('dk', nchwcDepthwiseFilterGradient(b, conv.blockedX, 'dy', g, block));
  b.input('kc', [g.kh, g.kw, g.c, g.o]);
  b.output('yc', nchwcConv(b, 'x', 'kc', undefined, attrs, g, block));
  const x = Float32Array.from({ length: n * g.c * g.h * g.w }, (_, i) => Math.sin(i * 1.37) * 2);
  const k = Float32Array.from({ length: g.kh * g.kw * g.c }, (_, i) => Math.cos(i * 0.29));
  const dy = Float32Array.from({ length: n * g.c * g.oh * g.ow }, (_, i) => Math.cos(i * 0.71));
  const session = await ort.InferenceSession.create(encodeModel(b.model('nchwc probe', { opset: 17, irVersion: 8, domain: 'studio.probe' })), { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  try {
    const T = ort.Tensor;
    const kc = Float32Array.from({ length: g.kh * g.kw * g.c * g.o }, (_, i) => Math.sin(i * 0.53));
    const out = await session.run({ x: new T('float32', x, [n, g.c, g.h, g.w]), k: new T('float32', k, [g.kh, g.kw, g.c, 1]), dy: new T('float32', dy, [n, g.c, g.oh, g.ow]), kc: new T('float32', kc, [g.kh, g.kw, g.c, g.o]) });
    const ref = reference(x, k, dy, n, g);
    return close(out['y']!.data as Float32Array, ref.y) && close(out['dk']!.data as Float32Array, ref.dk) && close(out['yc']!.data as Float32Array, convReference(x, kc, n, g));
  } finally {
    await session.release();
  }
}

let probed: Promise<number | null> | null = null;

/**
 * The NCHWc block size of this onnxruntime's CPU kernels (16 with AVX-512,
 * 8 with AVX2), found by running the forward and filter gradient on a small
 * case for each candidate; null when none agrees with the definitions or the
 * kernels are missing (the session fails to load).
 */
export function nchwcBlockSize(ort: typeof Ort): Promise<number | null> {
  probed ??= (async () => {
    for (const block of [16, 8, 4, 32]) {
      try {
        if (await agrees(ort, block)) return block;
      } catch {
        // No NCHWc kernels in this build or on this CPU, or not this block size.
      }
    }
    return null;
  })();
  return probed;
}
