/**
 * Resizing channels-last float images, separably (rows, then columns), each
 * axis by its own rule:
 *  - shrinking: area averaging — an output pixel is the mean of the source
 *    pixels it covers, weighted by overlap (OpenCV INTER_AREA, TF
 *    resize area). A 2x shrink is the mean of each 2x2 block.
 *  - enlarging (or same size): bilinear with half-pixel centres — output
 *    pixel i samples source position (i + 0.5)·src/dst − 0.5, clamped to the
 *    edge pixels (TF resize bilinear with half_pixel_centers, PIL without
 *    antialias). Same size is the identity.
 * Values are not rounded.
 */

interface Tap {
  index: number;
  weight: number;
}

/** For each output index along one axis, the source indices and weights it mixes. */
export function axisWeights(src: number, dst: number): Tap[][] {
  const out: Tap[][] = [];
  const ratio = src / dst;
  for (let i = 0; i < dst; i++) {
    if (dst < src) {
      const lo = i * ratio;
      const hi = (i + 1) * ratio;
      const taps: Tap[] = [];
      for (let k = Math.floor(lo); k < Math.min(src, Math.ceil(hi)); k++) {
        const overlap = Math.min(hi, k + 1) - Math.max(lo, k);
        if (overlap > 1e-12) taps.push({ index: k, weight: overlap / ratio });
      }
      out.push(taps);
    } else {
      const c = Math.min(Math.max((i + 0.5) * ratio - 0.5, 0), src - 1);
      const k = Math.floor(c);
      const f = c - k;
      out.push(f === 0 || k + 1 >= src ? [{ index: k, weight: 1 }] : [{ index: k, weight: 1 - f }, { index: k + 1, weight: f }]);
    }
  }
  return out;
}

/** Resizes an h×w×c image to outH×outW×c. */
export function resizeImage(data: Float32Array, h: number, w: number, c: number, outH: number, outW: number): Float32Array {
  if (h === outH && w === outW) return data;
  const cols = axisWeights(w, outW);
  const rows = axisWeights(h, outH);
  const mid = new Float32Array(h * outW * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < outW; x++) {
      for (const t of cols[x]!) {
        const s = (y * w + t.index) * c;
        const d = (y * outW + x) * c;
        for (let k = 0; k < c; k++) mid[d + k] += t.weight * data[s + k]!;
      }
    }
  }
  const out = new Float32Array(outH * outW * c);
  for (let y = 0; y < outH; y++) {
    for (const t of rows[y]!) {
      for (let x = 0; x < outW; x++) {
        const s = (t.index * outW + x) * c;
        const d = (y * outW + x) * c;
        for (let k = 0; k < c; k++) out[d + k] += t.weight * mid[s + k]!;
      }
    }
  }
  return out;
}
