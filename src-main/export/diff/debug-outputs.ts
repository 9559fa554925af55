/** Debug copies of a graph that list intermediate tensors as outputs, so a runtime hands them back. */
import { encodeOnnx } from '../../engine/onnx/build.js';
import { valueInfo, type ModelProto } from '../../engine/onnx/proto.js';

/** ONNX: `model` with `names` added to its graph outputs (untyped: onnxruntime infers them), encoded. */
export function withOutputs(model: ModelProto, names: readonly string[]): Uint8Array {
  const g = model.graph!;
  const present = new Set(g.output.map((o) => o.name));
  for (const name of names) if (!present.has(name)) g.output.push(valueInfo(name));
  return encodeOnnx(model);
}

/** A rank-4 value held NCHW per sample ([C,H,W] of per-sample shape [H,W,C]) in NHWC order, batch by batch. */
export function nchwToNhwc(x: ArrayLike<number>, shape: readonly number[], batch: number): Float32Array {
  const [h, w, c] = shape as [number, number, number];
  const out = new Float32Array(x.length);
  const per = h * w * c;
  for (let b = 0; b < batch; b++) {
    const o = b * per;
    for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) out[o + p * c + ch] = x[o + ch * h * w + p]!;
  }
  return out;
}
