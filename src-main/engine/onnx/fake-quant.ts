/**
 * Fake quant as plain float ONNX ops, in each rounding mode of the
 * TensorFlow.js op (engine/quant/fake-quant.ts), op for op in float32 so
 * both runtimes give the same values:
 *
 *  'half-up' (TF's fake quant; the PTQ simulation, TFLite's requantization):
 *     u   = clip((x − nudged_min) / scale, 0, qmax − qmin)
 *     out = floor(u + 0.5) · scale + nudged_min
 *  'half-even' (ONNX QuantizeLinear; TFLite's input QUANTIZE and XNNPACK's MUL):
 *     out = min(max(Round(x / scale), qmin − zp), qmax − zp) · scale
 *     (ONNX Round rounds halves to even, as tf.round does)
 *  'half-away' (TFLite's reference kernels, std::round):
 *     v = x / scale, a = |v|, r = sign(v) · (floor(a) + [a − floor(a) ≥ 0.5])
 *     out = min(max(r, qmin − zp), qmax − zp) · scale
 *
 * QuantizeLinear would round half to even and saturate at the storage type's
 * range, so the simulation of any bit width uses these ops instead. The
 * simulation and evaluation graphs feed them fixed qparams (constants); the
 * training step feeds qparams it computes from the ranges of the step
 * (native/train/quant-ops.ts), and adds the straight-through estimator.
 */
import type { RoundingMode } from '../quant/fake-quant.js';
import type { QParams } from '../quant/qparams.js';
import type { OnnxBuilder, OnnxValue } from './builder.js';
import { DT } from './proto.js';

/**
 * The fake quant of x with qparams held in the graph (broadcasting on x); nodes named `<name>/fq_*`, the output `<name>/fake_quant`.
 * `nudgedMin` null: it is 0 (zero point 0, e.g. a ReLU / ReLU6 output's range), so x − 0 and q·scale + 0
 * are left out: the same values (q·scale is never −0: q ≥ 0), two passes fewer over the tensor.
 * `levels` null: x is already clipped to the nudged range (clipFirstFakeQuantNodes), so u is not clipped.
 */
export function fakeQuantOps(b: OnnxBuilder, x: string, q: { scale: string; nudgedMin: string | null; levels: number | string | null }, name = 'fq'): string {
  const p = (k: string) => `${name}/fq_${k}`;
  const shifted = q.nudgedMin === null ? x : b.op('Sub', [x, q.nudgedMin], {}, p('shifted'));
  const u = b.op('Div', [shifted, q.scale], {}, p('u'));
  // levels: qmax − qmin as a constant, or the name of a value holding it (a switched quantizer's input).
  const levels = typeof q.levels === 'number' ? b.f32(q.levels, [], p('levels')) : q.levels;
  const clipped = levels === null ? u : b.op('Clip', [u, b.f32(0, [], p('zero')), levels], {}, p('clipped'));
  const rounded = b.op('Floor', [b.op('Add', [clipped, b.f32(0.5, [], p('half'))], {}, p('halfway'))], {}, p('q'));
  if (q.nudgedMin === null) return b.op('Mul', [rounded, q.scale], {}, `${name}/fake_quant`);
  return b.op('Add', [b.op('Mul', [rounded, q.scale], {}, p('scaled')), q.nudgedMin], {}, `${name}/fake_quant`);
}

/**
 * The fake quant of `x` with fixed qparams `qp` of quantizer `name`, rounding
 * as `rounding` says (default 'half-up', TF's); per-channel qparams broadcast
 * along `channelAxis` of the ONNX layout (null: per-tensor). Returns the
 * output's name (`<name>/fake_quant`).
 *
 * The ops run on a view of x with as few, as long rows as the qparams allow
 * (per-tensor: one vector; per-channel: [outer, C, inner], or [rows, C] on
 * the last axis), reshaped back at the end. Same ops on the same values, so
 * the same numbers; but onnxruntime's broadcasting walks a constant over x
 * one innermost row at a time, and a [N, C, 7, 7] activation (or an NHWC
 * input with 1 or 3 channels) is made of rows too short to be cheap:
 * measured, the evaluation graph (float + simulated branch) ran 9-26% faster
 * this way (bundled CNN at batch 256, MobileNetV2 1.0 / 0.35 at 224x224).
 * (Reshape in onnxruntime is a view, not a copy.)
 */
export function fakeQuantNodes(b: OnnxBuilder, x: OnnxValue, name: string, qp: QParams, channelAxis: number | null, rounding: RoundingMode = 'half-up', opts: { ownClip?: boolean } = {}): string {
  if (rounding === 'half-up' && channelAxis === null) return clipFirstFakeQuantNodes(b, x, name, qp, opts.ownClip ?? false);
  const rows = rowsView(x.rank, channelAxis, qp.scale.length);
  const flat = rows ? b.op('Reshape', [x.name, b.i64(rows.shape, `${name}/fq_rows_shape`)], {}, `${name}/fq_rows`) : x.name;
  const dims = rows?.constDims ?? (channelAxis === null ? [] : Array.from({ length: x.rank }, (_, i) => (i === channelAxis ? qp.scale.length : 1)));
  // Built under `<name>/rows` when reshaped, so the output name `<name>/fake_quant` stays the reshape back's.
  const inner = rows ? `${name}/rows` : name;
  const scale = b.f32(qp.scale, dims, `${name}/fq_scale`);
  let out: string;
  if (rounding === 'half-up') {
    const nudgedMin = qp.nudgedMin.every((m) => m === 0) ? null : b.f32(qp.nudgedMin, dims, `${name}/fq_nudged_min`);
    out = fakeQuantOps(b, flat, { scale, nudgedMin, levels: qp.qmax - qp.qmin }, inner);
  } else {
    // The signed-domain clamp bounds qmin − zp, qmax − zp (per channel).
    const low = b.f32(Array.from(qp.zeroPoint, (z) => qp.qmin - z), dims, `${name}/fq_low`);
    const high = b.f32(Array.from(qp.zeroPoint, (z) => qp.qmax - z), dims, `${name}/fq_high`);
    out = signedFakeQuantOps(b, flat, { scale, low, high }, rounding, inner);
  }
  return rows ? b.op('Reshape', [out, b.op('Shape', [x.name], {}, `${name}/fq_shape`)], {}, `${name}/fake_quant`) : out;
}

/**
 * Per-tensor half-up fake quant with the clip on x, to the nudged range:
 *   c = clip(x, nudged_min, nudged_max)
 *   out = floor((c − nudged_min) / scale + 0.5) · scale + nudged_min
 * fakeQuantOps' numbers bit for bit (for x in range both compute the same u,
 * which rounding keeps within a hair of [0, qmax − qmin], where floor(u +
 * 0.5) is that of the clipped u; outside, both give the end of the grid: the
 * argument of native/train/quant-ops.ts fakeQuant). Why: a Clip with
 * constant bounds right after a Conv is fused into it by onnxruntime (no
 * pass of its own), and with `ownClip` a clip that x itself is (relu6:
 * builder.takeOverClip, so x must be read by nothing else) becomes one clip
 * to the intersection of both ranges (both hold 0). One pass over the
 * activation fewer per quantizer.
 */
function clipFirstFakeQuantNodes(b: OnnxBuilder, x: OnnxValue, name: string, qp: QParams, ownClip: boolean): string {
  const [nmin, nmax, step] = [qp.nudgedMin[0]!, qp.nudgedMax[0]!, qp.scale[0]!];
  const own = ownClip ? b.takeOverClip(x.name, (lo, hi) => lo <= 0 && 0 <= hi) : null;
  const [lo, hi] = own ? [Math.max(own.lo, nmin), Math.min(own.hi, nmax)] : [nmin, nmax];
  const clipped = b.op('Clip', [own?.input ?? x.name, b.f32(lo, [], `${name}/fq_lo`), b.f32(hi, [], `${name}/fq_hi`)], {}, `${name}/fq_clipped`);
  const rows = rowsView(x.rank, null, 1);
  const flat = rows ? b.op('Reshape', [clipped, b.i64(rows.shape, `${name}/fq_rows_shape`)], {}, `${name}/fq_rows`) : clipped;
  const nudgedMin = nmin === 0 ? null : b.f32(nmin, [], `${name}/fq_nudged_min`);
  const out = fakeQuantOps(b, flat, { scale: b.f32(step, [], `${name}/fq_scale`), nudgedMin, levels: null }, rows ? `${name}/rows` : name);
  return rows ? b.op('Reshape', [out, b.op('Shape', [clipped], {}, `${name}/fq_shape`)], {}, `${name}/fake_quant`) : out;
}

/** Graph inputs of a switched quantizer `name` (see switchedFakeQuantNodes). */
export function switchInputs(name: string): { on: string; scale: string; nudgedMin: string; levels: string } {
  return { on: `${name}/switch_on`, scale: `${name}/switch_scale`, nudgedMin: `${name}/switch_nudged_min`, levels: `${name}/switch_levels` };
}

/**
 * A quantizer that each run of the session turns on or off, with qparams fed
 * per run (engine/sensitivity: one graph for every case):
 *   out = Where(on, fq(x), x)
 * with fq the same half-up ops as fakeQuantNodes (fakeQuantOps on the same
 * rows view), fed the same float32 scale, nudged min and levels (qmax − qmin)
 * that fakeQuantNodes holds as constants. Where copies one of its inputs, so
 * a quantizer switched on gives fakeQuantNodes' values bit for bit and one
 * switched off gives x itself. Inputs (switchInputs): `on` bool [], `levels`
 * float [], scale and nudged min float with `dims` (returned): [] per-tensor,
 * the rows view's constant dims per-channel. Output `<name>/fake_quant`.
 */
export function switchedFakeQuantNodes(b: OnnxBuilder, x: OnnxValue, name: string, channels: number, channelAxis: number | null): { output: string; dims: number[] } {
  const rows = rowsView(x.rank, channelAxis, channels);
  const flat = rows ? b.op('Reshape', [x.name, b.i64(rows.shape, `${name}/fq_rows_shape`)], {}, `${name}/fq_rows`) : x.name;
  const dims = rows?.constDims ?? (channelAxis === null ? [] : Array.from({ length: x.rank }, (_, i) => (i === channelAxis ? channels : 1)));
  const inputs = switchInputs(name);
  b.input(inputs.on, [], DT.BOOL);
  b.input(inputs.scale, dims);
  b.input(inputs.nudgedMin, dims);
  b.input(inputs.levels, []);
  const inner = `${name}/rows`;
  const fq = fakeQuantOps(b, flat, { scale: inputs.scale, nudgedMin: inputs.nudgedMin, levels: inputs.levels }, inner);
  const picked = b.op('Where', [inputs.on, fq, flat], {}, rows ? `${name}/switched` : `${name}/fake_quant`);
  const output = rows ? b.op('Reshape', [picked, b.op('Shape', [x.name], {}, `${name}/fq_shape`)], {}, `${name}/fake_quant`) : picked;
  return { output, dims };
}

/**
 * The reshape that gives a rank-`rank` tensor long rows for its fake quant,
 * and the dims of the qparams constants on it; null when it already has them
 * (a vector per-tensor, [N, C] per-channel on its last axis).
 */
export function rowsView(rank: number, channelAxis: number | null, channels: number): { shape: number[]; constDims: number[] } | null {
  if (channelAxis === null) return rank <= 1 ? null : { shape: [-1], constDims: [] };
  if (channelAxis === rank - 1) return rank <= 2 ? null : { shape: [-1, channels], constDims: [1, channels] };
  // Channels inside: the leading dims kept (0 copies a dim), the trailing ones merged.
  return { shape: [...Array.from({ length: channelAxis }, () => 0), channels, -1], constDims: [...Array.from({ length: channelAxis }, () => 1), channels, 1] };
}

/** Fake quant rounding x / scale in the signed domain ('half-even' or 'half-away'), clamped to [low, high]; nodes `<name>/fq_*`, output `<name>/fake_quant`. */
export function signedFakeQuantOps(b: OnnxBuilder, x: string, q: { scale: string; low: string; high: string }, rounding: 'half-even' | 'half-away', name = 'fq'): string {
  const p = (k: string) => `${name}/fq_${k}`;
  const v = b.op('Div', [x, q.scale], {}, p('v'));
  let r: string;
  if (rounding === 'half-even') r = b.op('Round', [v], {}, p('q'));
  else {
    // floor(|v| + 0.5) misrounds 0.49999997 (the sum rounds up to 1): compare the fraction, as the TF.js op does.
    const a = b.op('Abs', [v], {}, p('abs'));
    const fl = b.op('Floor', [a], {}, p('floor'));
    const up = b.op('Cast', [b.op('GreaterOrEqual', [b.op('Sub', [a, fl], {}, p('fraction')), b.f32(0.5, [], p('half'))], {}, p('rounds_up'))], { to: DT.FLOAT }, p('up'));
    r = b.op('Mul', [b.op('Sign', [v], {}, p('sign')), b.op('Add', [fl, up], {}, p('magnitude'))], {}, p('q'));
  }
  const clamped = b.op('Min', [b.op('Max', [r, q.low], {}, p('above_low')), q.high], {}, p('clamped'));
  return b.op('Mul', [clamped, q.scale], {}, `${name}/fake_quant`);
}
