/**
 * The runs table: one PTQ / QAT / float evaluation each, with its lifecycle
 * queued -> running -> done | failed | cancelled (| interrupted on recovery).
 * Lifecycle updates only apply to a run still queued or running and report
 * whether they did, so a late "done" cannot overwrite a user's cancel.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { LintFinding, RunDetail, RunStatus, RunSummary, TensorRecord } from '../api/contract.js';
import { RunConfig, defaultRunName, type RunConfigInput } from '../api/run-config.js';
import { fromJson, nowIso, nullableNumber, toJson } from './codec.js';
import { StoreConflictError, StoreNotFoundError } from './errors.js';

export type RunKind = RunSummary['kind'];

export interface NewRun {
  kind: RunKind;
  /** Defaults to defaultRunName(kind, model name, config). */
  name?: string;
  config: RunConfigInput;
  /** The run this one was derived from (e.g. QAT started from a PTQ run). */
  parentId?: number | null;
}

export type { RunMetrics } from '../engine/results.js';
import type { RunMetrics } from '../engine/results.js';
import type { FloatReference } from '../engine/native/float-reference.js';

export interface FinishRun extends RunMetrics {
  status: 'done' | 'failed' | 'cancelled';
  /** Replaces the stored summary when given. */
  summary?: Record<string, unknown>;
  /** Replaces the stored lint findings when given. */
  lint?: LintFinding[];
  error?: string | null;
}

export interface DeletedRun {
  deleted: boolean;
  /** Files of the run's exports; the caller removes them once the rows are gone. */
  exportPaths: string[];
}

interface RunRow {
  id: number;
  kind: RunKind;
  name: string;
  status: RunStatus;
  model_id: number;
  model_name: string;
  dataset_id: number;
  dataset_name: string;
  parent_id: number | null;
  config: string;
  backend: string | null;
  float_accuracy: number | null;
  quant_accuracy: number | null;
  float_loss: number | null;
  quant_loss: number | null;
  error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

const SELECT_SUMMARY = `
  SELECT r.id, r.kind, r.name, r.status, r.model_id, m.name AS model_name, r.dataset_id,
         d.name AS dataset_name, r.parent_id, r.config, r.backend, r.float_accuracy, r.quant_accuracy,
         r.float_loss, r.quant_loss, r.error, r.created_at, r.started_at, r.finished_at
    FROM runs r
    JOIN models m ON m.id = r.model_id
    JOIN datasets d ON d.id = r.dataset_id`;
const NEWEST_FIRST = `ORDER BY r.created_at DESC, r.id DESC`;

function parseConfig(row: RunRow): RunConfig {
  const parsed = RunConfig.safeParse(fromJson<unknown>(row.config, null, `run ${row.id} config`));
  if (!parsed.success) throw new Error(`stored config of run ${row.id} does not match RunConfig: ${parsed.error.message}`);
  return parsed.data;
}

function toSummary(row: RunRow): RunSummary {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    status: row.status,
    modelId: row.model_id,
    modelName: row.model_name,
    datasetId: row.dataset_id,
    datasetName: row.dataset_name,
    parentId: row.parent_id,
    backend: row.backend,
    floatAccuracy: row.float_accuracy,
    quantAccuracy: row.quant_accuracy,
    floatLoss: row.float_loss,
    quantLoss: row.quant_loss,
    error: row.error,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    config: parseConfig(row),
  };
}

/** Binds metrics for `COALESCE(@x, x)`: undefined keeps the stored value. */
function metricParams(m: RunMetrics) {
  const keep = (v: number | null | undefined) => (v === undefined ? null : nullableNumber(v));
  return {
    floatAccuracy: keep(m.floatAccuracy),
    quantAccuracy: keep(m.quantAccuracy),
    floatLoss: keep(m.floatLoss),
    quantLoss: keep(m.quantLoss),
  };
}

/** Earlier runs whose float figures a new run may take: the latest ones are the ones a comparison repeats. */
const FLOAT_REFERENCES = 50;

export class RunRepo {
  private readonly s: {
    insert: Statement;
    list: Statement<[], RunRow>;
    get: Statement<[number], RunRow>;
    children: Statement<[number], RunRow>;
    status: Statement<[number], { status: RunStatus }>;
    extra: Statement<[number], { summary: string; lint: string }>;
    modelName: Statement<[number], { name: string }>;
    datasetExists: Statement<[number], { id: number }>;
    markRunning: Statement;
    metrics: Statement;
    finish: Statement;
    lint: Statement<[string, number]>;
    rename: Statement<[string, number]>;
    exportPaths: Statement<[number], { path: string }>;
    delete: Statement<[number]>;
    floatReferences: Statement<[number], { id: number; key: string; accuracy: number; loss: number; count: number }>;
  };

  constructor(
    private readonly db: Database,
    private readonly ownerToken: string,
    private readonly tensorsOf: (runId: number) => TensorRecord[],
  ) {
    this.s = {
      insert: db.prepare(
        `INSERT INTO runs (kind, name, status, model_id, dataset_id, parent_id, config, owner_pid, owner_token, created_at)
         VALUES (@kind, @name, 'queued', @modelId, @datasetId, @parentId, @config, @pid, @token, @createdAt)`,
      ),
      list: db.prepare(`${SELECT_SUMMARY} ${NEWEST_FIRST}`),
      get: db.prepare(`${SELECT_SUMMARY} WHERE r.id = ?`),
      children: db.prepare(`${SELECT_SUMMARY} WHERE r.parent_id = ? ${NEWEST_FIRST}`),
      status: db.prepare(`SELECT status FROM runs WHERE id = ?`),
      extra: db.prepare(`SELECT summary, lint FROM runs WHERE id = ?`),
      modelName: db.prepare(`SELECT name FROM models WHERE id = ?`),
      datasetExists: db.prepare(`SELECT id FROM datasets WHERE id = ?`),
      markRunning: db.prepare(
        `UPDATE runs SET status = 'running', backend = @backend, started_at = @now, owner_pid = @pid, owner_token = @token
          WHERE id = @id AND status = 'queued'`,
      ),
      metrics: db.prepare(
        `UPDATE runs SET float_accuracy = COALESCE(@floatAccuracy, float_accuracy),
                         quant_accuracy = COALESCE(@quantAccuracy, quant_accuracy),
                         float_loss = COALESCE(@floatLoss, float_loss),
                         quant_loss = COALESCE(@quantLoss, quant_loss)
          WHERE id = @id`,
      ),
      finish: db.prepare(
        `UPDATE runs SET status = @status, finished_at = @now, error = @error,
                         float_accuracy = COALESCE(@floatAccuracy, float_accuracy),
                         quant_accuracy = COALESCE(@quantAccuracy, quant_accuracy),
                         float_loss = COALESCE(@floatLoss, float_loss),
                         quant_loss = COALESCE(@quantLoss, quant_loss),
                         summary = COALESCE(@summary, summary),
                         lint = COALESCE(@lint, lint)
          WHERE id = @id AND status IN ('queued', 'running')`,
      ),
      lint: db.prepare(`UPDATE runs SET lint = ? WHERE id = ?`),
      rename: db.prepare(`UPDATE runs SET name = ? WHERE id = ?`),
      exportPaths: db.prepare(`SELECT path FROM exports WHERE run_id = ? ORDER BY id`),
      delete: db.prepare(`DELETE FROM runs WHERE id = ?`),
      floatReferences: db.prepare(
        `SELECT id, json_extract(summary, '$.evaluation.floatKey') AS key, float_accuracy AS accuracy, float_loss AS loss,
                json_extract(summary, '$.eval.count') AS count
           FROM runs
          WHERE model_id = ? AND status = 'done' AND key IS NOT NULL
                AND float_accuracy IS NOT NULL AND float_loss IS NOT NULL AND count IS NOT NULL
          ORDER BY id DESC LIMIT ${FLOAT_REFERENCES}`,
      ),
    };
  }

  /**
   * Queues a run. The config is parsed with RunConfig (defaults filled) and
   * stored whole; model, dataset and parent must exist (StoreNotFoundError).
   */
  create(run: NewRun): RunSummary {
    const config = RunConfig.parse(run.config);
    const create = this.db.transaction(() => {
      const model = this.s.modelName.get(config.modelId);
      if (!model) throw new StoreNotFoundError(`model ${config.modelId} does not exist`);
      if (!this.s.datasetExists.get(config.datasetId)) throw new StoreNotFoundError(`dataset ${config.datasetId} does not exist`);
      const parentId = run.parentId ?? null;
      if (parentId !== null && !this.s.status.get(parentId)) throw new StoreNotFoundError(`parent run ${parentId} does not exist`);
      const info = this.s.insert.run({
        kind: run.kind,
        name: run.name ?? defaultRunName(run.kind, model.name, config),
        modelId: config.modelId,
        datasetId: config.datasetId,
        parentId,
        config: toJson(config),
        pid: process.pid,
        token: this.ownerToken,
        createdAt: nowIso(),
      });
      return this.get(Number(info.lastInsertRowid))!;
    });
    return create.immediate();
  }

  /** queued -> running on `backend`; false if the run is not queued (e.g. cancelled meanwhile). */
  markRunning(id: number, backend: string): boolean {
    const info = this.s.markRunning.run({ id, backend, now: nowIso(), pid: process.pid, token: this.ownerToken });
    return info.changes > 0;
  }

  /** Records metrics known before the end (e.g. float accuracy); undefined fields keep their value. */
  setMetrics(id: number, metrics: RunMetrics): boolean {
    return this.s.metrics.run({ id, ...metricParams(metrics) }).changes > 0;
  }

  setLint(id: number, lint: LintFinding[]): boolean {
    return this.s.lint.run(toJson(lint), id).changes > 0;
  }

  /** Ends a queued or running run; false if it had already ended. */
  finish(id: number, result: FinishRun): boolean {
    const info = this.s.finish.run({
      id,
      status: result.status,
      now: nowIso(),
      error: result.error ?? null,
      ...metricParams(result),
      summary: result.summary === undefined ? null : toJson(result.summary),
      lint: result.lint === undefined ? null : toJson(result.lint),
    });
    return info.changes > 0;
  }

  fail(id: number, message: string): boolean {
    return this.finish(id, { status: 'failed', error: message });
  }

  status(id: number): RunStatus | undefined {
    return this.s.status.get(id)?.status;
  }

  /** Newest first, with model and dataset names. */
  list(): RunSummary[] {
    return this.s.list.all().map(toSummary);
  }

  get(id: number): RunSummary | undefined {
    const row = this.s.get.get(id);
    return row && toSummary(row);
  }

  /** Summary plus tensors, lint and the free-form summary, read in one snapshot. */
  detail(id: number): RunDetail | undefined {
    const read = this.db.transaction((): RunDetail | undefined => {
      const summary = this.get(id);
      if (!summary) return undefined;
      const extra = this.s.extra.get(id)!;
      return {
        ...summary,
        tensors: this.tensorsOf(id),
        lint: fromJson<LintFinding[]>(extra.lint, [], `run ${id} lint`),
        summary: fromJson<Record<string, unknown>>(extra.summary, {}, `run ${id} summary`),
      };
    });
    return read();
  }

  /**
   * The float figures of the model's finished runs under their evaluation
   * key (engine/native/float-reference.ts), newest first, one per key: a new
   * run of the same float graph on the same samples takes them.
   */
  floatReferences(modelId: number): FloatReference[] {
    const seen = new Set<string>();
    const out: FloatReference[] = [];
    for (const r of this.s.floatReferences.all(modelId)) {
      if (typeof r.key !== 'string' || seen.has(r.key)) continue;
      seen.add(r.key);
      out.push({ key: r.key, accuracy: r.accuracy, loss: r.loss, count: Number(r.count), runId: r.id });
    }
    return out;
  }

  /** Runs derived from this one, newest first. */
  children(id: number): RunSummary[] {
    return this.s.children.all(id).map(toSummary);
  }

  rename(id: number, name: string): RunSummary | undefined {
    if (this.s.rename.run(name, id).changes === 0) return undefined;
    return this.get(id);
  }

  /**
   * Deletes the run and, by cascade, its tensors, channels, histograms,
   * curves and export rows; children keep living with parent_id = null.
   * A queued or running run is refused (StoreConflictError): cancel it first.
   */
  delete(id: number): DeletedRun {
    const remove = this.db.transaction((): DeletedRun => {
      const status = this.status(id);
      if (status === undefined) return { deleted: false, exportPaths: [] };
      if (status === 'queued' || status === 'running') {
        throw new StoreConflictError(`run ${id} is ${status}; cancel it before deleting it`);
      }
      const exportPaths = this.s.exportPaths.all(id).map((r) => r.path);
      this.s.delete.run(id);
      return { deleted: true, exportPaths };
    });
    return remove.immediate();
  }
}
