/**
 * `studio runs compare A B`: two runs side by side, one row per quantized
 * tensor (layer and role), from the same runs.compare call the Compare view
 * makes. SQNR in dB (higher is closer to float); Δ is B − A.
 */
import type { CompareRun, TensorRecord } from '../api/contract.js';
import { formatTable } from './format.js';

export interface CompareRow {
  layer: string;
  role: string;
  a: Pick<TensorRecord, 'bits' | 'granularity' | 'sqnr' | 'clipRate'> | null;
  b: Pick<TensorRecord, 'bits' | 'granularity' | 'sqnr' | 'clipRate'> | null;
  /** SQNR of B minus that of A, where both have one. */
  sqnrDelta: number | null;
}

const pick = (t: TensorRecord | undefined) => (t ? { bits: t.bits, granularity: t.granularity, sqnr: t.sqnr, clipRate: t.clipRate } : null);

/** The rows in A's tensor order, then the tensors only B has. */
export function compareRows(a: CompareRun, b: CompareRun): CompareRow[] {
  const key = (t: TensorRecord) => `${t.layer}\u0000${t.role}`;
  const inB = new Map(b.tensors.map((t) => [key(t), t]));
  const keys = [...new Set([...a.tensors.map(key), ...b.tensors.map(key)])];
  const inA = new Map(a.tensors.map((t) => [key(t), t]));
  return keys.map((k) => {
    const ta = inA.get(k);
    const tb = inB.get(k);
    const [layer, role] = k.split('\u0000') as [string, string];
    const sqnrDelta = ta?.sqnr != null && tb?.sqnr != null ? tb.sqnr - ta.sqnr : null;
    return { layer, role, a: pick(ta), b: pick(tb), sqnrDelta };
  });
}

const pct = (x: number | null) => (x === null ? '—' : `${(x * 100).toFixed(2)}%`);
const db = (x: number | null | undefined) => (x === null || x === undefined ? '—' : x.toFixed(1));
const quant = (t: CompareRow['a']) => (t ? `${t.bits}b ${t.granularity === 'per-channel' ? 'ch' : 'tensor'}` : 'float');
const clip = (t: CompareRow['a']) => (t?.clipRate == null ? '—' : `${(t.clipRate * 100).toFixed(3)}%`);

export function formatComparison(a: CompareRun, b: CompareRun, rows: CompareRow[]): string {
  const head = (tag: string, r: CompareRun) => `${tag}: run ${r.id} ${r.name} (${r.kind}, ${r.status}) — float ${pct(r.floatAccuracy)}, quantized ${pct(r.quantAccuracy)}`;
  const delta = a.quantAccuracy !== null && b.quantAccuracy !== null ? (b.quantAccuracy - a.quantAccuracy) * 100 : null;
  return [
    head('A', a),
    head('B', b),
    `quantized top-1 B − A: ${delta === null ? '—' : `${delta >= 0 ? '+' : ''}${delta.toFixed(2)} points`}`,
    '',
    formatTable(
      ['layer', 'role', 'A', 'B', 'A SQNR dB', 'B SQNR dB', 'Δ dB', 'A clipped', 'B clipped'],
      rows.map((r) => [r.layer, r.role, quant(r.a), quant(r.b), db(r.a?.sqnr), db(r.b?.sqnr), r.sqnrDelta === null ? '—' : `${r.sqnrDelta >= 0 ? '+' : ''}${r.sqnrDelta.toFixed(1)}`, clip(r.a), clip(r.b)]),
    ),
  ].join('\n');
}
