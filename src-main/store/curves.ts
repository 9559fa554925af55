/** QAT training curves: loss/accuracy and quantizer ranges per logged step. */
import type { Database, Statement } from 'better-sqlite3';
import { fromJson, nullableNumber, toJson } from './codec.js';

export type { CurvePoint, QuantizerRange } from '../engine/results.js';
import type { CurvePoint, QuantizerRange } from '../engine/results.js';

interface CurveRow {
  step: number;
  epoch: number;
  split: CurvePoint['split'];
  loss: number | null;
  accuracy: number | null;
  ranges: string | null;
}

export class CurveRepo {
  private readonly insertStmt: Statement;
  private readonly listStmt: Statement<[number], CurveRow>;

  constructor(private readonly db: Database) {
    this.insertStmt = db.prepare(
      `INSERT INTO run_curves (run_id, step, epoch, split, loss, accuracy, ranges)
       VALUES (@runId, @step, @epoch, @split, @loss, @accuracy, @ranges)`,
    );
    this.listStmt = db.prepare(
      `SELECT step, epoch, split, loss, accuracy, ranges FROM run_curves WHERE run_id = ? ORDER BY step, id`,
    );
  }

  /** Appends a batch in one transaction: one fsync per batch instead of per point. */
  append(runId: number, points: readonly CurvePoint[]): void {
    const append = this.db.transaction(() => {
      for (const p of points) {
        this.insertStmt.run({
          runId,
          step: p.step,
          epoch: p.epoch,
          split: p.split,
          loss: nullableNumber(p.loss),
          accuracy: nullableNumber(p.accuracy),
          ranges: p.ranges ? toJson(p.ranges) : null,
        });
      }
    });
    append.immediate();
  }

  /** A run's points by step (train and val interleaved in insertion order). */
  list(runId: number): CurvePoint[] {
    return this.listStmt.all(runId).map((r) => ({
      step: r.step,
      epoch: r.epoch,
      split: r.split,
      loss: r.loss,
      accuracy: r.accuracy,
      ranges: fromJson<Record<string, QuantizerRange> | null>(r.ranges, null, `curve of run ${runId} step ${r.step}`),
    }));
  }
}
