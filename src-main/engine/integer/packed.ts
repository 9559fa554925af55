/**
 * The same int32 accumulators as conv.ts, two output channels per multiply:
 * a double holds the pair of kernel integers (w[o+1]·2^26 + w[o]), so one
 * multiply-add v·W accumulates v·w[o+1]·2^26 + v·w[o] for both channels.
 * Doubles are exact integers below 2^53, so the two lanes never mix as long
 * as the low lane's sum stays inside (−2^25, 2^25): then
 * S = hi·2^26 + lo with hi = round(S / 2^26), lo = S − hi·2^26, exactly.
 * Patch entries are summed in chunks short enough for that bound
 * (chunk · max|x − zp| · max|w| < 2^25; 8-bit values allow ≥ 1000 taps per
 * chunk) and the lanes of each chunk added to exact running sums. The
 * tests check it equals conv.ts on generated layers; it runs ~2.5× faster.
 */
import type { ConvGeometry } from './conv.js';

const LANE = 67108864; // 2^26
const LANE_LIMIT = 33554432; // 2^25

/** Kernel [K, outC] (Keras layout, zero point subtracted) as K × ceil(outC/2) lane pairs. */
export function packKernel(w: Int32Array, taps: number, outC: number): Float64Array {
  const half = Math.ceil(outC / 2);
  const packed = new Float64Array(taps * half);
  for (let k = 0; k < taps; k++) {
    for (let h = 0; h < half; h++) {
      const o = 2 * h;
      const upper = o + 1 < outC ? w[k * outC + o + 1]! : 0;
      packed[k * half + h] = upper * LANE + w[k * outC + o]!;
    }
  }
  return packed;
}

/** Longest run of patch entries whose low-lane sum stays inside (−2^25, 2^25); 0 when even one product does not. */
export function laneChunk(xMaxAbs: number, wMaxAbs: number): number {
  const per = Math.max(1, xMaxAbs * wMaxAbs);
  return Math.floor((LANE_LIMIT - 1) / per);
}

export interface PackedPatch {
  values: Float64Array;
  /** Row offsets k · ceil(outC/2) into the packed kernel. */
  rows: Int32Array;
}

export function newPackedPatch(taps: number): PackedPatch {
  return { values: new Float64Array(taps), rows: new Int32Array(taps) };
}

/** Adds the two lanes of a chunk's sum S to the running sums of channels o (low) and o+1 (high). */
function store(acc: Int32Array, at: number, o: number, outC: number, bias: Int32Array, lo: number, hi: number): void {
  acc[at + o] = bias[o]! + lo;
  if (o + 1 < outC) acc[at + o + 1] = bias[o + 1]! + hi;
}

/**
 * acc[a0 + o] = bias[o] + Σ_j values[j] · w[k_j, o] for all outC channels,
 * from the packed kernel: four lane pairs (eight channels) per pass over the
 * patch, then one pair at a time for the rest.
 */
function packedProducts(nnz: number, p: PackedPatch, packed: Float64Array, outC: number, chunk: number, bias: Int32Array, acc: Int32Array, a0: number): void {
  const { values, rows } = p;
  const half = Math.ceil(outC / 2);
  let h = 0;
  for (; h + 4 <= half; h += 4) {
    let lo0 = 0, hi0 = 0, lo1 = 0, hi1 = 0, lo2 = 0, hi2 = 0, lo3 = 0, hi3 = 0; // prettier-ignore
    for (let j0 = 0; j0 < nnz; j0 += chunk) {
      const j1 = Math.min(nnz, j0 + chunk);
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0; // prettier-ignore
      for (let j = j0; j < j1; j++) {
        const v = values[j]!;
        const r = rows[j]! + h;
        s0 += v * packed[r]!;
        s1 += v * packed[r + 1]!;
        s2 += v * packed[r + 2]!;
        s3 += v * packed[r + 3]!;
      }
      let u = Math.round(s0 / LANE);
      hi0 += u;
      lo0 += s0 - u * LANE;
      u = Math.round(s1 / LANE);
      hi1 += u;
      lo1 += s1 - u * LANE;
      u = Math.round(s2 / LANE);
      hi2 += u;
      lo2 += s2 - u * LANE;
      u = Math.round(s3 / LANE);
      hi3 += u;
      lo3 += s3 - u * LANE;
    }
    store(acc, a0, 2 * h, outC, bias, lo0, hi0);
    store(acc, a0, 2 * h + 2, outC, bias, lo1, hi1);
    store(acc, a0, 2 * h + 4, outC, bias, lo2, hi2);
    store(acc, a0, 2 * h + 6, outC, bias, lo3, hi3);
  }
  for (; h < half; h++) {
    let lo = 0;
    let hi = 0;
    for (let j0 = 0; j0 < nnz; j0 += chunk) {
      const j1 = Math.min(nnz, j0 + chunk);
      let s = 0;
      for (let j = j0; j < j1; j++) s += values[j]! * packed[rows[j]! + h]!;
      const u = Math.round(s / LANE);
      hi += u;
      lo += s - u * LANE;
    }
    store(acc, a0, 2 * h, outC, bias, lo, hi);
  }
}

/** conv2dAcc of conv.ts on a packed kernel. */
export function conv2dAccPacked(g: ConvGeometry, x: Int32Array, xZp: number, packed: Float64Array, chunk: number, bias: Int32Array, acc: Int32Array, patch: PackedPatch): void {
  const { inH, inW, inC, outH, outW, outC, kh, kw } = g;
  const { values, rows } = patch;
  const half = Math.ceil(outC / 2);
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
            rows[nnz++] = (k0 + i) * half;
          }
        }
      }
      packedProducts(nnz, patch, packed, outC, chunk, bias, acc, (oy * outW + ox) * outC);
    }
  }
}

/** denseAcc of conv.ts on a packed kernel. */
export function denseAccPacked(rowsN: number, inF: number, outF: number, x: Int32Array, xZp: number, packed: Float64Array, chunk: number, bias: Int32Array, acc: Int32Array, patch: PackedPatch): void {
  const half = Math.ceil(outF / 2);
  for (let r = 0; r < rowsN; r++) {
    let nnz = 0;
    for (let i = 0; i < inF; i++) {
      const xv = x[r * inF + i]! - xZp;
      if (xv === 0) continue;
      patch.values[nnz] = xv;
      patch.rows[nnz++] = i * half;
    }
    packedProducts(nnz, patch, packed, outF, chunk, bias, acc, r * outF);
  }
}
