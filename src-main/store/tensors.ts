/**
 * A run's quantization results: one run_tensors row per quantized tensor,
 * its per-channel vectors in run_channels, the histograms the ranges were
 * chosen from, and a sensitivity run's layers (store/sensitivity.ts). saveRunResults writes all of it plus the final status in one
 * transaction, so a run is either done with every row or unchanged.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { TensorRecord } from '../api/records.js';
import { fromBlob, toBlob } from './blobs.js';
import { toFlag } from './codec.js';
import { StoreConflictError, StoreNotFoundError } from './errors.js';
import type { ChannelVectors, Histogram, RunResults, TensorResult } from '../engine/results.js';
import type { FinishRun, RunRepo } from './runs.js';
import type { SensitivityRepo } from './sensitivity.js';

export type { ChannelVectors, Histogram, RunResults, TensorResult } from '../engine/results.js';

interface TensorRow {
  layer: string;
  role: string;
  granularity: TensorRecord['granularity'];
  axis: number | null;
  bits: number;
  symmetric: 0 | 1;
  narrow_range: 0 | 1;
  channels: number;
  min: number;
  max: number;
  scale: number;
  zero_point: number;
  sqnr: number | null;
  clip_rate: number | null;
}

interface ChannelRow {
  min: Buffer;
  max: Buffer;
  scale: Buffer;
  zero_point: Buffer;
  sqnr: Buffer | null;
}

interface HistogramRow {
  layer: string;
  role: string;
  lo: number;
  hi: number;
  range_min: number;
  range_max: number;
  counts_dtype: 'float32' | 'uint32';
  counts: Buffer;
}

function toRecord(row: TensorRow): TensorRecord {
  return {
    layer: row.layer,
    role: row.role,
    granularity: row.granularity,
    axis: row.axis,
    bits: row.bits,
    symmetric: row.symmetric === 1,
    narrowRange: row.narrow_range === 1,
    channels: row.channels,
    min: row.min,
    max: row.max,
    scale: row.scale,
    zeroPoint: row.zero_point,
    sqnr: row.sqnr,
    clipRate: row.clip_rate,
  };
}

function checkChannels(t: TensorResult): void {
  const pc = t.perChannel;
  if (!pc) return;
  const vectors: [string, ArrayLike<number> | null | undefined][] = [
    ['min', pc.min],
    ['max', pc.max],
    ['scale', pc.scale],
    ['zeroPoint', pc.zeroPoint],
    ['sqnr', pc.sqnr],
  ];
  for (const [name, v] of vectors) {
    if (v && v.length !== t.channels) {
      throw new Error(`tensor ${t.layer}/${t.role}: per-channel ${name} has ${v.length} values but channels is ${t.channels}`);
    }
  }
}

export class TensorRepo {
  private readonly s: {
    insertTensor: Statement;
    insertChannels: Statement;
    insertHistogram: Statement;
    tensors: Statement<[number], TensorRow>;
    channels: Statement<[number, string, string], ChannelRow>;
    histogram: Statement<[number, string, string], HistogramRow>;
  };

  constructor(
    private readonly db: Database,
    private readonly runs: RunRepo,
    private readonly sensitivity: SensitivityRepo,
  ) {
    this.s = {
      insertTensor: db.prepare(
        `INSERT INTO run_tensors (run_id, layer, role, granularity, axis, bits, symmetric, narrow_range, channels,
           min, max, scale, zero_point, sqnr, clip_rate)
         VALUES (@runId, @layer, @role, @granularity, @axis, @bits, @symmetric, @narrowRange, @channels,
           @min, @max, @scale, @zeroPoint, @sqnr, @clipRate)`,
      ),
      insertChannels: db.prepare(
        `INSERT INTO run_channels (tensor_id, min, max, scale, zero_point, sqnr)
         VALUES (@tensorId, @min, @max, @scale, @zeroPoint, @sqnr)`,
      ),
      insertHistogram: db.prepare(
        `INSERT INTO histograms (run_id, layer, role, lo, hi, range_min, range_max, counts_dtype, counts)
         VALUES (@runId, @layer, @role, @lo, @hi, @rangeMin, @rangeMax, @dtype, @counts)`,
      ),
      tensors: db.prepare(`SELECT * FROM run_tensors WHERE run_id = ? ORDER BY id`),
      channels: db.prepare(
        `SELECT c.min, c.max, c.scale, c.zero_point, c.sqnr
           FROM run_channels c JOIN run_tensors t ON t.id = c.tensor_id
          WHERE t.run_id = ? AND t.layer = ? AND t.role = ?`,
      ),
      histogram: db.prepare(`SELECT * FROM histograms WHERE run_id = ? AND layer = ? AND role = ?`),
    };
  }

  /**
   * Writes every tensor, channel vector and histogram of a queued or running
   * run and ends it (status 'done' unless given) in ONE transaction; any
   * failure rolls all of it back and leaves the run as it was.
   */
  saveRunResults(runId: number, results: RunResults): void {
    const save = this.db.transaction(() => {
      const status = this.runs.status(runId);
      if (status === undefined) throw new StoreNotFoundError(`run ${runId} does not exist`);
      if (status !== 'queued' && status !== 'running') {
        throw new StoreConflictError(`run ${runId} is ${status}; its results can no longer be saved`);
      }
      for (const t of results.tensors) this.insertTensor(runId, t);
      for (const h of results.histograms ?? []) this.insertHistogram(runId, h);
      if (results.sensitivity) this.sensitivity.insertAll(runId, results.sensitivity);
      const { tensors: _t, histograms: _h, sensitivity: _s, status: finalStatus, ...finish } = results;
      this.runs.finish(runId, { ...finish, status: finalStatus ?? 'done' });
    });
    save.immediate();
  }

  private insertTensor(runId: number, t: TensorResult): void {
    checkChannels(t);
    const info = this.s.insertTensor.run({
      runId,
      layer: t.layer,
      role: t.role,
      granularity: t.granularity,
      axis: t.axis,
      bits: t.bits,
      symmetric: toFlag(t.symmetric),
      narrowRange: toFlag(t.narrowRange),
      channels: t.channels,
      min: t.min,
      max: t.max,
      scale: t.scale,
      zeroPoint: t.zeroPoint,
      sqnr: t.sqnr,
      clipRate: t.clipRate,
    });
    const pc = t.perChannel;
    if (!pc) return;
    this.s.insertChannels.run({
      tensorId: info.lastInsertRowid,
      min: toBlob(pc.min),
      max: toBlob(pc.max),
      scale: toBlob(pc.scale),
      zeroPoint: toBlob(pc.zeroPoint),
      sqnr: pc.sqnr ? toBlob(pc.sqnr) : null,
    });
  }

  private insertHistogram(runId: number, h: Histogram): void {
    this.s.insertHistogram.run({
      runId,
      layer: h.layer,
      role: h.role,
      lo: h.lo,
      hi: h.hi,
      rangeMin: h.rangeMin,
      rangeMax: h.rangeMax,
      dtype: h.counts instanceof Uint32Array ? 'uint32' : 'float32',
      counts: toBlob(h.counts),
    });
  }

  /** A run's tensors in the order they were saved (graph order, as the engine emits them). */
  tensors(runId: number): TensorRecord[] {
    return this.s.tensors.all(runId).map(toRecord);
  }

  /** Per-channel vectors of one tensor, or undefined if it has none. */
  channels(runId: number, layer: string, role: string): ChannelVectors | undefined {
    const row = this.s.channels.get(runId, layer, role);
    if (!row) return undefined;
    const what = (v: string) => `${v} of run ${runId} ${layer}/${role}`;
    return {
      min: fromBlob(row.min, Float32Array, what('min')),
      max: fromBlob(row.max, Float32Array, what('max')),
      scale: fromBlob(row.scale, Float32Array, what('scale')),
      zeroPoint: fromBlob(row.zero_point, Int32Array, what('zero_point')),
      sqnr: row.sqnr ? fromBlob(row.sqnr, Float32Array, what('sqnr')) : null,
    };
  }

  histogram(runId: number, layer: string, role: string): Histogram | undefined {
    const row = this.s.histogram.get(runId, layer, role);
    if (!row) return undefined;
    const what = `histogram of run ${runId} ${layer}/${role}`;
    return {
      layer: row.layer,
      role: row.role,
      lo: row.lo,
      hi: row.hi,
      rangeMin: row.range_min,
      rangeMax: row.range_max,
      counts: row.counts_dtype === 'uint32' ? fromBlob(row.counts, Uint32Array, what) : fromBlob(row.counts, Float32Array, what),
    };
  }
}
