/**
 * A sensitivity run's layers (run_sensitivity): written with the run's other
 * results in saveRunResults' one transaction, read back in graph order.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { SensitivityCase, SensitivityLayer } from '../api/records.js';
import { nullableNumber } from './codec.js';

interface SensitivityRow {
  position: number;
  layer: string;
  op: string;
  weight_quantizer: string | null;
  activation_quantizer: string | null;
  alone_accuracy: number;
  alone_sqnr: number | null;
  float_accuracy: number;
  float_sqnr: number | null;
  weights_accuracy: number | null;
  weights_sqnr: number | null;
  activation_accuracy: number | null;
  activation_sqnr: number | null;
}

const caseOf = (accuracy: number | null, sqnr: number | null): SensitivityCase | null => (accuracy === null ? null : { accuracy, sqnr });

export class SensitivityRepo {
  private readonly s: { insert: Statement; list: Statement<[number], SensitivityRow> };

  constructor(db: Database) {
    this.s = {
      insert: db.prepare(
        `INSERT INTO run_sensitivity (run_id, position, layer, op, weight_quantizer, activation_quantizer, alone_accuracy, alone_sqnr,
           float_accuracy, float_sqnr, weights_accuracy, weights_sqnr, activation_accuracy, activation_sqnr)
         VALUES (@runId, @position, @layer, @op, @weight, @activation, @aloneAccuracy, @aloneSqnr,
           @floatAccuracy, @floatSqnr, @weightsAccuracy, @weightsSqnr, @activationAccuracy, @activationSqnr)`,
      ),
      list: db.prepare(`SELECT * FROM run_sensitivity WHERE run_id = ? ORDER BY position, id`),
    };
  }

  /** Inserts a run's layers; call inside the transaction that ends the run (TensorRepo.saveRunResults). */
  insertAll(runId: number, layers: readonly SensitivityLayer[]): void {
    for (const l of layers) {
      this.s.insert.run({
        runId,
        position: l.position,
        layer: l.layer,
        op: l.op,
        weight: l.weight,
        activation: l.activation,
        aloneAccuracy: l.quantizedAlone.accuracy,
        aloneSqnr: nullableNumber(l.quantizedAlone.sqnr),
        floatAccuracy: l.floatAlone.accuracy,
        floatSqnr: nullableNumber(l.floatAlone.sqnr),
        weightsAccuracy: l.weightsAlone?.accuracy ?? null,
        weightsSqnr: nullableNumber(l.weightsAlone?.sqnr ?? null),
        activationAccuracy: l.activationAlone?.accuracy ?? null,
        activationSqnr: nullableNumber(l.activationAlone?.sqnr ?? null),
      });
    }
  }

  /** A run's layers in graph order (empty for a run of another kind, or one that stored none). */
  list(runId: number): SensitivityLayer[] {
    return this.s.list.all(runId).map((r) => ({
      layer: r.layer,
      op: r.op,
      position: r.position,
      weight: r.weight_quantizer,
      activation: r.activation_quantizer,
      quantizedAlone: { accuracy: r.alone_accuracy, sqnr: r.alone_sqnr },
      floatAlone: { accuracy: r.float_accuracy, sqnr: r.float_sqnr },
      weightsAlone: caseOf(r.weights_accuracy, r.weights_sqnr),
      activationAlone: caseOf(r.activation_accuracy, r.activation_sqnr),
    }));
  }
}
