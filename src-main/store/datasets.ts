/** The datasets table: calibration / evaluation / training data the runs refer to. */
import type { Database, Statement } from 'better-sqlite3';
import type { DatasetSummary } from '../api/contract.js';
import { fromJson, nowIso, toJson } from './codec.js';
import { StoreConflictError } from './errors.js';

export interface NewDataset {
  name: string;
  source: DatasetSummary['source'];
  format: string;
  path: string | null;
  sha256: string;
  count: number;
  inputShape: number[];
  numClasses: number;
  description?: string;
  /** How samples are turned into model inputs (scaling, mean/std, layout). */
  preprocessing?: Record<string, unknown>;
  /** Where the decoded samples were cached, if anywhere. */
  artifactPath?: string | null;
}

/** What the engine needs beyond the contract's summary. */
export interface StoredDataset extends DatasetSummary {
  sha256: string;
  preprocessing: Record<string, unknown>;
  artifactPath: string | null;
}

interface DatasetRow {
  id: number;
  name: string;
  source: DatasetSummary['source'];
  format: string;
  path: string | null;
  sha256: string;
  count: number;
  input_shape: string;
  num_classes: number;
  description: string;
  preprocessing: string;
  artifact_path: string | null;
  created_at: string;
}

function toSummary(row: DatasetRow): DatasetSummary {
  return {
    id: row.id,
    name: row.name,
    source: row.source,
    format: row.format,
    path: row.path,
    count: row.count,
    inputShape: fromJson<number[]>(row.input_shape, [], `dataset ${row.id} input_shape`),
    numClasses: row.num_classes,
    description: row.description,
    createdAt: row.created_at,
  };
}

export class DatasetRepo {
  private readonly insertStmt: Statement;
  private readonly listStmt: Statement<[], DatasetRow>;
  private readonly getStmt: Statement<[number], DatasetRow>;
  private readonly bySha: Statement<[string], DatasetRow>;
  private readonly usesStmt: Statement<[number], { n: number }>;
  private readonly deleteStmt: Statement<[number]>;

  constructor(private readonly db: Database) {
    this.insertStmt = db.prepare(
      `INSERT INTO datasets (name, source, format, path, sha256, count, input_shape, num_classes,
         description, preprocessing, artifact_path, created_at)
       VALUES (@name, @source, @format, @path, @sha256, @count, @inputShape, @numClasses,
         @description, @preprocessing, @artifactPath, @createdAt)`,
    );
    this.listStmt = db.prepare(`SELECT * FROM datasets ORDER BY name COLLATE NOCASE, id`);
    this.getStmt = db.prepare(`SELECT * FROM datasets WHERE id = ?`);
    this.bySha = db.prepare(`SELECT * FROM datasets WHERE sha256 = ?`);
    this.usesStmt = db.prepare(`SELECT count(*) AS n FROM runs WHERE dataset_id = ?`);
    this.deleteStmt = db.prepare(`DELETE FROM datasets WHERE id = ?`);
  }

  /** Throws StoreConflictError if a dataset with the same sha256 is already stored (see findBySha256). */
  insert(dataset: NewDataset): DatasetSummary {
    const insert = this.db.transaction(() => {
      const existing = this.bySha.get(dataset.sha256);
      if (existing) {
        throw new StoreConflictError(`dataset "${existing.name}" (id ${existing.id}) already has sha256 ${dataset.sha256}`);
      }
      const info = this.insertStmt.run({
        name: dataset.name,
        source: dataset.source,
        format: dataset.format,
        path: dataset.path,
        sha256: dataset.sha256,
        count: dataset.count,
        inputShape: toJson(dataset.inputShape),
        numClasses: dataset.numClasses,
        description: dataset.description ?? '',
        preprocessing: toJson(dataset.preprocessing ?? {}),
        artifactPath: dataset.artifactPath ?? null,
        createdAt: nowIso(),
      });
      return this.get(Number(info.lastInsertRowid))!;
    });
    return insert.immediate();
  }

  /** By name, case-insensitive. */
  list(): DatasetSummary[] {
    return this.listStmt.all().map(toSummary);
  }

  get(id: number): DatasetSummary | undefined {
    const row = this.getStmt.get(id);
    return row && toSummary(row);
  }

  /** The summary plus sha256, preprocessing and cache location. */
  getStored(id: number): StoredDataset | undefined {
    const row = this.getStmt.get(id);
    if (!row) return undefined;
    return {
      ...toSummary(row),
      sha256: row.sha256,
      preprocessing: fromJson<Record<string, unknown>>(row.preprocessing, {}, `dataset ${id} preprocessing`),
      artifactPath: row.artifact_path,
    };
  }

  findBySha256(sha256: string): DatasetSummary | undefined {
    const row = this.bySha.get(sha256);
    return row && toSummary(row);
  }

  /** Returns false if there was no such dataset; refuses (StoreConflictError) one that runs refer to. */
  delete(id: number): boolean {
    const remove = this.db.transaction(() => {
      const uses = this.usesStmt.get(id)!.n;
      if (uses > 0) throw new StoreConflictError(`dataset ${id} is used by ${uses} run(s); delete those runs first`);
      return this.deleteStmt.run(id).changes > 0;
    });
    return remove.immediate();
  }
}
