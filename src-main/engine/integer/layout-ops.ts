/**
 * Integer ops that move values without rescaling them: input and output share
 * scale and zero point (the plan passes the range through; TFLite's int8
 * kernels require it), so they copy stored integers:
 *
 *  - PAD (ZeroPadding2D): the border is filled with the zero point, i.e. the
 *    real value 0 (TFLite's int8 PAD pads with the output zero point);
 *  - SLICE (Cropping2D): the kept rows and columns;
 *  - RESIZE_NEAREST_NEIGHBOR (UpSampling2D, align_corners and
 *    half_pixel_centers false): output row y reads input row
 *    min(floor(f32(y · f32(in / out))), in − 1), reference_ops' index, which
 *    equals floor(y / size) for a whole factor (nearestSourceIndex checks it);
 *  - REDUCE_MAX over H and W (GlobalMaxPooling2D): the largest stored value.
 *
 * Tensors are [h, w, c] (no batch axis), channels last.
 */

/** ZeroPadding2D of an [h, w, c] tensor: `pad` [[top, bottom], [left, right]], border = zero point. */
export function padInt(h: number, w: number, c: number, pad: [[number, number], [number, number]], zeroPoint: number, x: Int32Array, out: Int32Array): void {
  const [[top], [left]] = pad;
  const outW = w + pad[1][0] + pad[1][1];
  out.fill(zeroPoint);
  for (let y = 0; y < h; y++) out.set(x.subarray(y * w * c, (y + 1) * w * c), ((y + top) * outW + left) * c);
}

/** Cropping2D of an [h, w, c] tensor to rows [top, h − bottom) and columns [left, w − right). */
export function cropInt(w: number, c: number, crop: [[number, number], [number, number]], outH: number, outW: number, x: Int32Array, out: Int32Array): void {
  const [[top], [left]] = crop;
  for (let y = 0; y < outH; y++) out.set(x.subarray(((y + top) * w + left) * c, ((y + top) * w + left + outW) * c), y * outW * c);
}

/** TFLite's nearest-neighbour source index (align_corners and half_pixel_centers false), float32 as the kernel computes it. */
export function nearestSourceIndex(outIndex: number, inSize: number, outSize: number): number {
  const scale = Math.fround(inSize / outSize);
  return Math.min(Math.floor(Math.fround(outIndex * scale)), inSize - 1);
}

/** Source rows (or columns) of a nearest resize from `inSize` to `outSize`. */
export function nearestSources(inSize: number, outSize: number): Int32Array {
  return Int32Array.from({ length: outSize }, (_, i) => nearestSourceIndex(i, inSize, outSize));
}

export function resizeNearestInt(inW: number, c: number, rows: Int32Array, cols: Int32Array, x: Int32Array, out: Int32Array): void {
  let o = 0;
  for (let y = 0; y < rows.length; y++) {
    const r = rows[y]! * inW;
    for (let xo = 0; xo < cols.length; xo++) {
      const from = (r + cols[xo]!) * c;
      out.set(x.subarray(from, from + c), o);
      o += c;
    }
  }
}

/** REDUCE_MAX over H and W of an [h, w, c] tensor into c values. */
export function globalMaxInt(h: number, w: number, c: number, x: Int32Array, out: Int32Array): void {
  const n = h * w;
  for (let ch = 0; ch < c; ch++) {
    let best = x[ch]!;
    for (let i = 1; i < n; i++) {
      const v = x[i * c + ch]!;
      if (v > best) best = v;
    }
    out[ch] = best;
  }
}
