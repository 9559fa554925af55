/**
 * TF's fake quant as plain float ONNX ops, rounding half up exactly as the
 * TensorFlow.js simulation does (engine/quant/fake-quant.ts, 'half-up'), op
 * for op in float32:
 *
 *   u   = clip((x − nudged_min) / scale, 0, qmax − qmin)
 *   out = floor(u + 0.5) · scale + nudged_min
 *
 * QuantizeLinear would round half to even and saturate at the storage type's
 * range, so the simulation of any bit width uses these ops instead. The
 * simulation and evaluation graphs feed them fixed qparams (constants); the
 * training step feeds qparams it computes from the ranges of the step
 * (native/train/quant-ops.ts), and adds the straight-through estimator.
 */
import type { QParams } from '../quant/qparams.js';
import type { OnnxBuilder, OnnxValue } from './builder.js';

/** The fake quant of x with qparams held in the graph (broadcasting on x); nodes named `<name>/fq_*`, the output `<name>/fake_quant`. */
export function fakeQuantOps(b: OnnxBuilder, x: string, q: { scale: string; nudgedMin: string; levels: number }, name = 'fq'): string {
  const p = (k: string) => `${name}/fq_${k}`;
  const u = b.op('Div', [b.op('Sub', [x, q.nudgedMin], {}, p('shifted')), q.scale], {}, p('u'));
  const clipped = b.op('Clip', [u, b.f32(0, [], p('zero')), b.f32(q.levels, [], p('levels'))], {}, p('clipped'));
  const rounded = b.op('Floor', [b.op('Add', [clipped, b.f32(0.5, [], p('half'))], {}, p('halfway'))], {}, p('q'));
  return b.op('Add', [b.op('Mul', [rounded, q.scale], {}, p('scaled')), q.nudgedMin], {}, `${name}/fake_quant`);
}

/**
 * The fake quant of `x` with fixed qparams `qp` of quantizer `name`;
 * per-channel qparams broadcast along `channelAxis` of the ONNX layout
 * (null: per-tensor). Returns the output's name.
 */
export function fakeQuantNodes(b: OnnxBuilder, x: OnnxValue, name: string, qp: QParams, channelAxis: number | null): string {
  const dims = channelAxis === null ? [] : Array.from({ length: x.rank }, (_, i) => (i === channelAxis ? qp.scale.length : 1));
  const scale = b.f32(qp.scale, dims, `${name}/fq_scale`);
  const nudgedMin = b.f32(qp.nudgedMin, dims, `${name}/fq_nudged_min`);
  return fakeQuantOps(b, x.name, { scale, nudgedMin, levels: qp.qmax - qp.qmin }, name);
}
