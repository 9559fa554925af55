/** Exported artifacts of a run (TFLite, tfjs, ...) with their verification and audit reports. */
import type { Database, Statement } from 'better-sqlite3';
import { fromJson, nowIso, toJson } from './codec.js';
import { StoreNotFoundError } from './errors.js';

export interface NewExport {
  runId: number;
  format: string;
  path: string;
  size: number;
  sha256: string;
  verification?: Record<string, unknown>;
  audit?: Record<string, unknown>;
}

export interface ExportRecord extends Required<NewExport> {
  id: number;
  createdAt: string;
}

interface ExportRow {
  id: number;
  run_id: number;
  format: string;
  path: string;
  size: number;
  sha256: string;
  verification: string;
  audit: string;
  created_at: string;
}

function toRecord(row: ExportRow): ExportRecord {
  return {
    id: row.id,
    runId: row.run_id,
    format: row.format,
    path: row.path,
    size: row.size,
    sha256: row.sha256,
    verification: fromJson<Record<string, unknown>>(row.verification, {}, `export ${row.id} verification`),
    audit: fromJson<Record<string, unknown>>(row.audit, {}, `export ${row.id} audit`),
    createdAt: row.created_at,
  };
}

export class ExportRepo {
  private readonly insertStmt: Statement;
  private readonly getStmt: Statement<[number], ExportRow>;
  private readonly byRun: Statement<[number], ExportRow>;
  private readonly runExists: Statement<[number], { id: number }>;

  constructor(private readonly db: Database) {
    this.insertStmt = db.prepare(
      `INSERT INTO exports (run_id, format, path, size, sha256, verification, audit, created_at)
       VALUES (@runId, @format, @path, @size, @sha256, @verification, @audit, @createdAt)`,
    );
    this.getStmt = db.prepare(`SELECT * FROM exports WHERE id = ?`);
    this.byRun = db.prepare(`SELECT * FROM exports WHERE run_id = ? ORDER BY id`);
    this.runExists = db.prepare(`SELECT id FROM runs WHERE id = ?`);
  }

  insert(e: NewExport): ExportRecord {
    const insert = this.db.transaction(() => {
      if (!this.runExists.get(e.runId)) throw new StoreNotFoundError(`run ${e.runId} does not exist`);
      const info = this.insertStmt.run({
        ...e,
        verification: toJson(e.verification ?? {}),
        audit: toJson(e.audit ?? {}),
        createdAt: nowIso(),
      });
      return toRecord(this.getStmt.get(Number(info.lastInsertRowid))!);
    });
    return insert.immediate();
  }

  /** The record of run `runId` at `path` with this content, if stored (the export sweep asks before recording a finished export again). */
  find(runId: number, path: string, sha256: string): ExportRecord | undefined {
    const row = this.db.prepare<[number, string, string], ExportRow>(`SELECT * FROM exports WHERE run_id = ? AND path = ? AND sha256 = ?`).get(runId, path, sha256);
    return row ? toRecord(row) : undefined;
  }

  /** One export by id. */
  get(id: number): ExportRecord | undefined {
    const row = this.getStmt.get(id);
    return row ? toRecord(row) : undefined;
  }

  /** Every path ever exported to (the export sweep scans their folders). */
  paths(): string[] {
    return this.db.prepare<[], { path: string }>(`SELECT DISTINCT path FROM exports`).all().map((r) => r.path);
  }

  /** Oldest first. */
  listByRun(runId: number): ExportRecord[] {
    return this.byRun.all(runId).map(toRecord);
  }
}
