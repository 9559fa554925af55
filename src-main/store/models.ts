/** The models table: imported or built-in networks the runs refer to. */
import type { Database, Statement } from 'better-sqlite3';
import type { LayerSummary, ModelDetail, ModelSummary } from '../api/contract.js';
import { fromJson, nowIso, toJson } from './codec.js';
import { StoreConflictError } from './errors.js';

export interface NewModel {
  name: string;
  source: ModelSummary['source'];
  format: string;
  path: string | null;
  sha256: string;
  inputShape: number[];
  numClasses: number;
  layerCount: number;
  paramCount: number;
  description?: string;
  layers?: LayerSummary[];
  /** Where the serialized studio model was written, if kept as a file. */
  artifactPath?: string | null;
  /** The serialized studio model itself, if kept inline. */
  artifact?: Uint8Array | null;
}

/** Where to load the model from; the engine reads whichever is set. */
export interface ModelArtifact {
  path: string | null;
  bytes: Uint8Array | null;
}

interface ModelRow {
  id: number;
  name: string;
  source: ModelSummary['source'];
  format: string;
  path: string | null;
  sha256: string;
  input_shape: string;
  num_classes: number;
  layer_count: number;
  param_count: number;
  description: string;
  created_at: string;
}

const SUMMARY_COLUMNS = `id, name, source, format, path, sha256, input_shape, num_classes, layer_count,
  param_count, description, created_at`;

function toSummary(row: ModelRow): ModelSummary {
  return {
    id: row.id,
    name: row.name,
    source: row.source,
    format: row.format,
    path: row.path,
    sha256: row.sha256,
    inputShape: fromJson<number[]>(row.input_shape, [], `model ${row.id} input_shape`),
    numClasses: row.num_classes,
    layerCount: row.layer_count,
    paramCount: row.param_count,
    description: row.description,
    createdAt: row.created_at,
  };
}

export class ModelRepo {
  private readonly insertStmt: Statement;
  private readonly listStmt: Statement<[], ModelRow>;
  private readonly getStmt: Statement<[number], ModelRow>;
  private readonly bySha: Statement<[string], ModelRow>;
  private readonly layersStmt: Statement<[number], { layers: string }>;
  private readonly artifactStmt: Statement<[number], { artifact_path: string | null; artifact: Buffer | null }>;
  private readonly usesStmt: Statement<[number], { n: number }>;
  private readonly deleteStmt: Statement<[number]>;

  constructor(private readonly db: Database) {
    this.insertStmt = db.prepare(
      `INSERT INTO models (name, source, format, path, sha256, input_shape, num_classes, layer_count,
         param_count, description, layers, artifact_path, artifact, created_at)
       VALUES (@name, @source, @format, @path, @sha256, @inputShape, @numClasses, @layerCount,
         @paramCount, @description, @layers, @artifactPath, @artifact, @createdAt)`,
    );
    this.listStmt = db.prepare(`SELECT ${SUMMARY_COLUMNS} FROM models ORDER BY name COLLATE NOCASE, id`);
    this.getStmt = db.prepare(`SELECT ${SUMMARY_COLUMNS} FROM models WHERE id = ?`);
    this.bySha = db.prepare(`SELECT ${SUMMARY_COLUMNS} FROM models WHERE sha256 = ?`);
    this.layersStmt = db.prepare(`SELECT layers FROM models WHERE id = ?`);
    this.artifactStmt = db.prepare(`SELECT artifact_path, artifact FROM models WHERE id = ?`);
    this.usesStmt = db.prepare(`SELECT count(*) AS n FROM runs WHERE model_id = ?`);
    this.deleteStmt = db.prepare(`DELETE FROM models WHERE id = ?`);
  }

  /** Throws StoreConflictError if a model with the same sha256 is already stored (see findBySha256). */
  insert(model: NewModel): ModelSummary {
    const insert = this.db.transaction(() => {
      const existing = this.bySha.get(model.sha256);
      if (existing) {
        throw new StoreConflictError(`model "${existing.name}" (id ${existing.id}) already has sha256 ${model.sha256}`);
      }
      const info = this.insertStmt.run({
        name: model.name,
        source: model.source,
        format: model.format,
        path: model.path,
        sha256: model.sha256,
        inputShape: toJson(model.inputShape),
        numClasses: model.numClasses,
        layerCount: model.layerCount,
        paramCount: model.paramCount,
        description: model.description ?? '',
        layers: toJson(model.layers ?? []),
        artifactPath: model.artifactPath ?? null,
        artifact: model.artifact ? Buffer.from(model.artifact.buffer, model.artifact.byteOffset, model.artifact.byteLength) : null,
        createdAt: nowIso(),
      });
      return this.get(Number(info.lastInsertRowid))!;
    });
    return insert.immediate();
  }

  /** By name, case-insensitive. */
  list(): ModelSummary[] {
    return this.listStmt.all().map(toSummary);
  }

  get(id: number): ModelSummary | undefined {
    const row = this.getStmt.get(id);
    return row && toSummary(row);
  }

  /** The summary plus the layer table stored at import. */
  getDetail(id: number): ModelDetail | undefined {
    const summary = this.get(id);
    if (!summary) return undefined;
    const layers = fromJson<LayerSummary[]>(this.layersStmt.get(id)!.layers, [], `model ${id} layers`);
    return { ...summary, layers };
  }

  findBySha256(sha256: string): ModelSummary | undefined {
    const row = this.bySha.get(sha256);
    return row && toSummary(row);
  }

  artifact(id: number): ModelArtifact | undefined {
    const row = this.artifactStmt.get(id);
    if (!row) return undefined;
    return { path: row.artifact_path, bytes: row.artifact ? new Uint8Array(row.artifact) : null };
  }

  /** Replaces a model's description (the sample's, when an older build stored a wrong one); false if there is no such model. */
  setDescription(id: number, description: string): boolean {
    return this.db.prepare<[string, number]>('UPDATE models SET description = ? WHERE id = ?').run(description, id).changes > 0;
  }

  /**
   * Returns false if there was no such model. Refuses (StoreConflictError) a
   * model that runs still refer to: deleting it would orphan their results.
   */
  delete(id: number): boolean {
    const remove = this.db.transaction(() => {
      const uses = this.usesStmt.get(id)!.n;
      if (uses > 0) throw new StoreConflictError(`model ${id} is used by ${uses} run(s); delete those runs first`);
      return this.deleteStmt.run(id).changes > 0;
    });
    return remove.immediate();
  }
}
