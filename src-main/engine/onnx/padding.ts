/** Padding shared by every ONNX graph the studio builds (export, calibration, evaluation, training). */

/** TF 'same' padding for one spatial dim: [before, after] (the extra pixel goes after). */
export function samePads(inSize: number, k: number, stride: number, dilation = 1): [number, number] {
  const out = Math.ceil(inSize / stride);
  const eff = (k - 1) * dilation + 1;
  const total = Math.max((out - 1) * stride + eff - inSize, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}
