/**
 * int8 × int8 → int32 accumulation of Conv2D, DepthwiseConv2D and Dense, as
 * TFLite's reference_integer_ops kernels compute before requantization:
 *
 *   acc[o] = bias[o] + Σ (x − zp_x) · (w − zp_w)
 *
 * over the taps that fall inside the input: 'same' padding pads with the real
 * value 0, i.e. with the zero point, whose term is 0, so out-of-range taps are
 * skipped. Weights come with their zero point already subtracted (0 for the
 * symmetric int8 scheme). Layouts are Keras's: NHWC activations, Conv2D
 * kernel [kh,kw,in,out], depthwise [kh,kw,in·mult] (channel i·mult + m),
 * Dense [in,out]. Conv2D and Dense first gather one output pixel's non-zero
 * (x − zp_x) (zeros are common after ReLU and in Fashion-MNIST's background)
 * into a sparse patch, then run four output channels at a time over it. The
 * sums are exact integers; a compile-time bound (layers.ts) guarantees they
 * fit in int32, so no wrap-around can occur.
 */

export interface ConvGeometry {
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  kh: number;
  kw: number;
  strideH: number;
  strideW: number;
  dilationH: number;
  dilationW: number;
  /** Rows/columns of padding before the input (TF 'same': floor(total / 2)). */
  padTop: number;
  padLeft: number;
}

/** TF padding of one spatial axis: output size and the padding before it. */
export function convOutput(inSize: number, k: number, stride: number, dilation: number, padding: 'same' | 'valid'): { size: number; before: number } {
  const eff = (k - 1) * dilation + 1;
  if (padding === 'valid') return { size: Math.floor((inSize - eff) / stride) + 1, before: 0 };
  const size = Math.ceil(inSize / stride);
  const total = Math.max((size - 1) * stride + eff - inSize, 0);
  return { size, before: Math.floor(total / 2) };
}

/**
 * Scratch of a sparse patch: the non-zero (x − zp_x) of one output pixel's
 * receptive field and the kernel row each multiplies (row index · outC).
 */
export interface Patch {
  values: Int32Array;
  rows: Int32Array;
}

export function newPatch(taps: number): Patch {
  return { values: new Int32Array(taps), rows: new Int32Array(taps) };
}

/**
 * acc[a0 + o] = bias[o] + Σ_j values[j] · w[rows[j] + o] for the first `nnz`
 * patch entries; four output channels at a time, so each patch entry is read
 * once per four products and the sums stay in registers.
 */
function patchProducts(nnz: number, p: Patch, w: Int32Array, outC: number, bias: Int32Array, acc: Int32Array, a0: number): void {
  const { values, rows } = p;
  let o = 0;
  for (; o + 4 <= outC; o += 4) {
    let s0 = bias[o]!;
    let s1 = bias[o + 1]!;
    let s2 = bias[o + 2]!;
    let s3 = bias[o + 3]!;
    for (let j = 0; j < nnz; j++) {
      const v = values[j]!;
      const r = rows[j]! + o;
      s0 += v * w[r]!;
      s1 += v * w[r + 1]!;
      s2 += v * w[r + 2]!;
      s3 += v * w[r + 3]!;
    }
    acc[a0 + o] = s0;
    acc[a0 + o + 1] = s1;
    acc[a0 + o + 2] = s2;
    acc[a0 + o + 3] = s3;
  }
  for (; o < outC; o++) {
    let s = bias[o]!;
    for (let j = 0; j < nnz; j++) s += values[j]! * w[rows[j]! + o]!;
    acc[a0 + o] = s;
  }
}

/** Conv2D accumulators: acc has outH·outW·outC entries; `patch` holds kh·kw·inC taps. */
export function conv2dAcc(g: ConvGeometry, x: Int32Array, xZp: number, w: Int32Array, bias: Int32Array, acc: Int32Array, patch: Patch): void {
  const { inH, inW, inC, outH, outW, outC, kh, kw } = g;
  const { values, rows } = patch;
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      let nnz = 0;
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * g.strideH - g.padTop + ky * g.dilationH;
        if (iy < 0 || iy >= inH) continue;
        for (let kx = 0; kx < kw; kx++) {
          const ix = ox * g.strideW - g.padLeft + kx * g.dilationW;
          if (ix < 0 || ix >= inW) continue;
          const x0 = (iy * inW + ix) * inC;
          const k0 = (ky * kw + kx) * inC;
          for (let i = 0; i < inC; i++) {
            const xv = x[x0 + i]! - xZp;
            if (xv === 0) continue;
            values[nnz] = xv;
            rows[nnz++] = (k0 + i) * outC;
          }
        }
      }
      patchProducts(nnz, patch, w, outC, bias, acc, (oy * outW + ox) * outC);
    }
  }
}

/** DepthwiseConv2D accumulators: output channel i·mult + m reads input channel i only. */
export function depthwiseAcc(g: ConvGeometry, mult: number, x: Int32Array, xZp: number, w: Int32Array, bias: Int32Array, acc: Int32Array): void {
  const { inH, inW, inC, outH, outW, outC, kh, kw } = g;
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      const a0 = (oy * outW + ox) * outC;
      for (let o = 0; o < outC; o++) acc[a0 + o] = bias[o]!;
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * g.strideH - g.padTop + ky * g.dilationH;
        if (iy < 0 || iy >= inH) continue;
        for (let kx = 0; kx < kw; kx++) {
          const ix = ox * g.strideW - g.padLeft + kx * g.dilationW;
          if (ix < 0 || ix >= inW) continue;
          const x0 = (iy * inW + ix) * inC;
          const w0 = (ky * kw + kx) * outC;
          for (let i = 0; i < inC; i++) {
            const xv = x[x0 + i]! - xZp;
            if (xv === 0) continue;
            const o0 = i * mult;
            for (let m = 0; m < mult; m++) acc[a0 + o0 + m] += xv * w[w0 + o0 + m]!;
          }
        }
      }
    }
  }
}

/** Dense (TFLite FULLY_CONNECTED) accumulators over `rows` rows of `inF` features: acc has rows·outF entries; `patch` holds inF taps. */
export function denseAcc(rows: number, inF: number, outF: number, x: Int32Array, xZp: number, w: Int32Array, bias: Int32Array, acc: Int32Array, patch: Patch): void {
  for (let r = 0; r < rows; r++) {
    let nnz = 0;
    for (let i = 0; i < inF; i++) {
      const xv = x[r * inF + i]! - xZp;
      if (xv === 0) continue;
      patch.values[nnz] = xv;
      patch.rows[nnz++] = i * outF;
    }
    patchProducts(nnz, patch, w, outF, bias, acc, r * outF);
  }
}
