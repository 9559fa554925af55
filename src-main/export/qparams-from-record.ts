/**
 * Rebuilds the exact QParams of a finished run from its stored records
 * (run_tensors + run_channels), without calibrating again.
 *
 * A record keeps TF's unsigned-domain scale and zero point straight from
 * computeQParams (per channel in `perChannel` for per-channel tensors; the
 * scalar columns of a per-channel record hold the per-tensor envelope and are
 * not used). The nudged range follows from them exactly as in `nudge()`:
 * `nudgedMin = f32((qmin − zp)·scale)`, `nudgedMax = f32((qmax − zp)·scale)`.
 */
import type { QParams } from '../engine/quant/qparams.js';
import { quantRange } from '../engine/quant/qparams.js';
import type { QuantPlan } from '../engine/transform/plan.js';
import type { TensorResult } from '../engine/results.js';
import { ExportError } from './errors.js';

/** What qparamsFromRecord needs of a record: a stored tensor row plus its channel vectors (if per-channel). */
export type QuantRecord = Pick<TensorResult, 'layer' | 'role' | 'granularity' | 'bits' | 'symmetric' | 'narrowRange' | 'channels' | 'scale' | 'zeroPoint'> & {
  perChannel?: { scale: Float32Array; zeroPoint: Int32Array } | null;
};

export function qparamsFromRecord(r: QuantRecord, axis?: number): QParams {
  const what = `${r.layer}/${r.role}`;
  const { qmin, qmax } = quantRange(r.bits, r.narrowRange);
  let scale: Float32Array;
  let zeroPoint: Int32Array;
  if (r.granularity === 'per-channel') {
    if (!r.perChannel) throw new ExportError(`tensor ${what} is per-channel but the run stored no channel vectors`, 'run', { tensor: what });
    scale = Float32Array.from(r.perChannel.scale);
    zeroPoint = Int32Array.from(r.perChannel.zeroPoint);
    if (scale.length !== r.channels || zeroPoint.length !== r.channels) {
      throw new ExportError(`tensor ${what}: ${scale.length} channel scales for ${r.channels} channels`, 'run', { tensor: what });
    }
  } else {
    scale = Float32Array.of(r.scale);
    zeroPoint = Int32Array.of(r.zeroPoint);
  }
  const nudgedMin = new Float32Array(scale.length);
  const nudgedMax = new Float32Array(scale.length);
  for (let c = 0; c < scale.length; c++) {
    if (!(scale[c]! > 0) || !Number.isFinite(scale[c]!)) throw new ExportError(`tensor ${what}: channel ${c} has scale ${scale[c]}`, 'run', { tensor: what });
    nudgedMin[c] = Math.fround((qmin - zeroPoint[c]!) * scale[c]!);
    nudgedMax[c] = Math.fround((qmax - zeroPoint[c]!) * scale[c]!);
  }
  return {
    bits: r.bits,
    symmetric: r.symmetric,
    narrowRange: r.narrowRange,
    granularity: r.granularity,
    ...(r.granularity === 'per-channel' && axis !== undefined ? { axis } : {}),
    qmin,
    qmax,
    scale,
    zeroPoint,
    nudgedMin,
    nudgedMax,
  };
}

/**
 * Qparams by quantizer name for a plan, from a run's records: weights
 * `<layer>/kernel` from the 'weight' record of the layer, the input quantizer
 * from the 'input' record, every other activation from the 'activation'
 * record of its head layer. Throws naming the first quantizer without a record.
 */
export function qparamsFromRecords(plan: QuantPlan, records: readonly QuantRecord[]): Map<string, QParams> {
  const find = (layer: string, role: string) => records.find((r) => r.layer === layer && r.role === role);
  const out = new Map<string, QParams>();
  for (const wq of plan.weights) {
    const r = find(wq.layer, 'weight');
    if (!r) throw new ExportError(`the run has no stored range for weight ${wq.name}`, 'run', { tensor: wq.name });
    out.set(wq.name, qparamsFromRecord(r, wq.axis ?? undefined));
  }
  for (const a of plan.activations) {
    const r = a.role === 'input' ? find(a.at, 'input') : find(a.layers[0]!, 'activation');
    if (!r) throw new ExportError(`the run has no stored range for activation ${a.name}`, 'run', { tensor: a.name });
    out.set(a.name, qparamsFromRecord(r, r.granularity === 'per-channel' ? -1 : undefined));
  }
  return out;
}
