/**
 * TF's fake quant with fixed qparams as plain float ONNX ops, rounding half
 * up exactly as the TensorFlow.js simulation does (engine/quant/fake-quant.ts,
 * 'half-up'), op for op in float32:
 *
 *   u   = clip((x − nudged_min) / scale, 0, qmax − qmin)
 *   out = floor(u + 0.5) · scale + nudged_min
 *
 * QuantizeLinear would round half to even and saturate at the storage type's
 * range, so the simulation of any bit width uses these ops instead.
 */
import type { QParams } from '../../engine/quant/qparams.js';
import { floats, node, type NodeProto, type TensorProto } from '../../engine/onnx/proto.js';

/**
 * Appends the fake quant of `x` (rank `rank`) to `nodes`, its constants to
 * `inits`; per-channel qparams broadcast along `channelAxis` of the ONNX
 * layout (null: per-tensor). Returns the output's name, `<name>/fake_quant`.
 */
export function fakeQuantNodes(x: string, name: string, qp: QParams, rank: number, channelAxis: number | null, nodes: NodeProto[], inits: TensorProto[]): string {
  const dims = channelAxis === null ? [] : Array.from({ length: rank }, (_, i) => (i === channelAxis ? qp.scale.length : 1));
  const p = (k: string) => `${name}/fq_${k}`;
  inits.push(
    floats(p('scale'), dims, qp.scale),
    floats(p('nudged_min'), dims, qp.nudgedMin),
    floats(p('zero'), [], [0]),
    floats(p('levels'), [], [qp.qmax - qp.qmin]),
    floats(p('half'), [], [0.5]),
  );
  const out = `${name}/fake_quant`;
  nodes.push(
    node('Sub', p('shifted'), [x, p('nudged_min')], [p('shifted')]),
    node('Div', p('u'), [p('shifted'), p('scale')], [p('u')]),
    node('Clip', p('clipped'), [p('u'), p('zero'), p('levels')], [p('clipped')]),
    node('Add', p('halfway'), [p('clipped'), p('half')], [p('halfway')]),
    node('Floor', p('q'), [p('halfway')], [p('q')]),
    node('Mul', p('scaled'), [p('q'), p('scale')], [p('scaled')]),
    node('Add', out, [p('scaled'), p('nudged_min')], [out]),
  );
  return out;
}
