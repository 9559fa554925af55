/**
 * Conv2D and DepthwiseConv2D as ONNX Conv (NCHW): TF's 'same' padding as
 * explicit pads (the extra row and column at the bottom and right), the
 * kernel in ONNX's layout — Conv2D [kh,kw,in,out] → [out,in,kh,kw];
 * DepthwiseConv2D [kh,kw,in,mult] → [in·mult,1,kh,kw] with group = in
 * (output channel i·mult + m, TF's order) — then the fused activation.
 * The kernel reaches the op as the caller holds it: initializers already in
 * ONNX's layout (toOnnxLayout), or a graph input moved there in the graph
 * (oihwKernel).
 */
import type { Activation, Conv2DNode, DepthwiseConv2DNode, WeightedNode } from '../../graph/types.js';
import { onnxValue, type OnnxBuilder, type OnnxValue } from '../builder.js';
import { samePads } from '../padding.js';
import { lowerActivation, type ActivationLowering } from './activation.js';
import { imageInput, refuse } from './common.js';

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

/** Zero rows and columns around H and W, [[top, bottom], [left, right]] (a ZeroPadding2D's). */
export type ZeroPads = readonly [readonly [number, number], readonly [number, number]];

/** `zeros`: a 'valid' convolution applying a ZeroPadding2D before it as its own pads (`input` is then the unpadded shape). */
export function convGeometry(input: readonly number[], output: readonly number[], k: readonly [number, number], s: readonly [number, number], d: readonly [number, number], padding: 'same' | 'valid', zeros?: ZeroPads): ConvGeometry {
  const [h, w, c] = input as [number, number, number];
  const [oh, ow, o] = output as [number, number, number];
  if (zeros && padding !== 'valid') throw new Error(`a 'same' convolution cannot take a ZeroPadding2D's pads as its own`);
  const [ph0, ph1] = padding === 'same' ? samePads(h, k[0], s[0], d[0]) : zeros ? zeros[0] : [0, 0];
  const [pw0, pw1] = padding === 'same' ? samePads(w, k[1], s[1], d[1]) : zeros ? zeros[1] : [0, 0];
  return { c, h, w, o, oh, ow, kh: k[0], kw: k[1], sh: s[0], sw: s[1], dh: d[0], dw: d[1], ph0, ph1, pw0, pw1 };
}

/** Conv / ConvTranspose / pool attributes of a geometry. */
export function convAttrs(g: ConvGeometry): { strides: number[]; dilations: number[]; pads: number[] } {
  return { strides: [g.sh, g.sw], dilations: [g.dh, g.dw], pads: [g.ph0, g.pw0, g.ph1, g.pw1] };
}

/** The kernel and bias a weighted layer's op reads (kernel in ONNX's layout for convolutions, [in,out] for Dense). */
export interface LayerWeights {
  kernel: string;
  bias?: string;
}

/** ONNX shape of a layer's kernel: [out,in,kh,kw], [in·mult,1,kh,kw], or Dense's [in,out]. */
export function onnxKernelShape(n: WeightedNode): number[] {
  const s = n.weights.kernel.shape;
  if (n.op === 'conv2d') return [s[3]!, s[2]!, s[0]!, s[1]!];
  if (n.op === 'depthwiseConv2d') return [s[2]! * s[3]!, 1, s[0]!, s[1]!];
  return [...s];
}

/** Kernel values (or integers) in the Keras layout → ONNX's layout (Dense's stays). */
export function toOnnxLayout<T extends Float32Array | Int32Array>(n: WeightedNode, v: T, make: (n: number) => T): T {
  if (n.op === 'dense') return v;
  const [kh, kw, ci, co] = n.weights.kernel.shape as [number, number, number, number];
  const out = make(v.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++)
        for (let o = 0; o < co; o++) {
          const from = ((y * kw + x) * ci + i) * co + o;
          // conv: [out,in,kh,kw]; depthwise (co = mult): channel i·mult + o of [in·mult,1,kh,kw].
          out[n.op === 'conv2d' ? ((o * ci + i) * kh + y) * kw + x : ((i * co + o) * kh + y) * kw + x] = v[from]!;
        }
  return out;
}

/** A kernel held in the Keras layout in the graph (a graph input), moved to ONNX's layout by graph ops. */
export function oihwKernel(b: OnnxBuilder, n: Conv2DNode | DepthwiseConv2DNode, kernel: string): string {
  const [kh, kw, c, m] = n.weights.kernel.shape as [number, number, number, number];
  if (n.op === 'conv2d') return b.op('Transpose', [kernel], { perm: [3, 2, 0, 1] });
  return b.op('Reshape', [b.op('Transpose', [b.op('Reshape', [kernel, b.i64([kh, kw, c * m])])], { perm: [2, 0, 1] }), b.i64([c * m, 1, kh, kw])]);
}

export interface ConvLowering {
  /** After the activation. */
  value: OnnxValue;
  /** The Conv's output (before the activation). */
  pre: string;
  act: ActivationLowering;
  /** The input as the Conv reads it (NCHW). */
  input: OnnxValue;
  geometry: ConvGeometry;
  attrs: { kernel_shape: number[]; strides: number[]; dilations: number[]; pads: number[]; group: number };
}

/**
 * Emits the convolution of an NCHW input with its attributes, returning the
 * NCHW output: ONNX Conv by default; the training step may run it on other
 * kernels (native/train/nchwc.ts).
 */
export type ConvEmitter = (input: string, w: LayerWeights, attrs: ConvLowering['attrs'], geometry: ConvGeometry) => string;

/** The convolution named after the layer, then `activation` (the layer's own, or 'linear' where the caller takes it over). */
export function lowerConv(b: OnnxBuilder, n: Conv2DNode | DepthwiseConv2DNode, x: OnnxValue, w: LayerWeights, activation: Activation, emit?: ConvEmitter, zeros?: ZeroPads): ConvLowering {
  const input = b.layout(imageInput(n, x), true);
  const c = input.shape[2]!;
  if (n.op === 'depthwiseConv2d' && n.weights.kernel.shape[2] !== c) throw refuse(n, `has a kernel for ${n.weights.kernel.shape[2]} input channels but gets ${c}`);
  const g = convGeometry(input.shape, n.outputShape, n.kernelSize, n.strides, n.dilation, n.padding, zeros);
  const attrs = { kernel_shape: [g.kh, g.kw], ...convAttrs(g), group: n.op === 'depthwiseConv2d' ? c : 1 };
  const pre = emit ? emit(input.name, w, attrs, g) : b.op('Conv', [input.name, w.kernel, ...(w.bias ? [w.bias] : [])], attrs, n.name);
  const act = lowerActivation(b, n, onnxValue(pre, n.outputShape, true), activation);
  return { value: act.value, pre, act, input, geometry: g, attrs };
}
