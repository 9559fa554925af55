/**
 * Schema migrations keyed on `PRAGMA user_version`. Append new steps to the
 * end, never edit a released one: a file at version N has run steps 1..N.
 */
import type { Database } from 'better-sqlite3';

export interface Migration {
  version: number;
  description: string;
  sql: string;
  /**
   * The step rebuilds a table others reference (SQLite's 12-step ALTER:
   * create new, copy, drop old, rename): foreign keys are switched off around
   * its transaction (dropping the old table would otherwise cascade its
   * deletes into the referencing tables), and checked before it commits.
   */
  rebuildsTables?: boolean;
}

/** Marks files as ours, so a foreign SQLite file at version 0 is not "migrated" into. ('QCS1') */
export const APPLICATION_ID = 0x51435331;

const V1 = /* sql */ `
CREATE TABLE models (
  id            INTEGER PRIMARY KEY,
  name          TEXT    NOT NULL,
  source        TEXT    NOT NULL CHECK (source IN ('builtin', 'imported')),
  format        TEXT    NOT NULL,
  path          TEXT,
  sha256        TEXT    NOT NULL UNIQUE,
  input_shape   TEXT    NOT NULL,               -- JSON number[] without the batch axis
  num_classes   INTEGER NOT NULL,
  layer_count   INTEGER NOT NULL,
  param_count   INTEGER NOT NULL,
  description   TEXT    NOT NULL DEFAULT '',
  layers        TEXT    NOT NULL DEFAULT '[]',  -- JSON LayerSummary[], so models.get needs no model load
  artifact_path TEXT,                           -- serialized studio model on disk, if kept as a file
  artifact      BLOB,                           -- or the serialized model itself, if kept inline
  created_at    TEXT    NOT NULL
);

CREATE TABLE datasets (
  id            INTEGER PRIMARY KEY,
  name          TEXT    NOT NULL,
  source        TEXT    NOT NULL CHECK (source IN ('builtin', 'imported')),
  format        TEXT    NOT NULL,
  path          TEXT,
  sha256        TEXT    NOT NULL UNIQUE,
  count         INTEGER NOT NULL,
  input_shape   TEXT    NOT NULL,
  num_classes   INTEGER NOT NULL,
  description   TEXT    NOT NULL DEFAULT '',
  preprocessing TEXT    NOT NULL DEFAULT '{}',  -- JSON
  artifact_path TEXT,
  created_at    TEXT    NOT NULL
);

CREATE TABLE runs (
  id             INTEGER PRIMARY KEY,
  kind           TEXT    NOT NULL CHECK (kind IN ('ptq', 'qat', 'float')),
  name           TEXT    NOT NULL,
  status         TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled', 'interrupted')),
  model_id       INTEGER NOT NULL REFERENCES models(id) ON DELETE RESTRICT,
  dataset_id     INTEGER NOT NULL REFERENCES datasets(id) ON DELETE RESTRICT,
  parent_id      INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  config         TEXT    NOT NULL,              -- JSON RunConfig, defaults filled
  backend        TEXT,
  float_accuracy REAL,
  quant_accuracy REAL,
  float_loss     REAL,
  quant_loss     REAL,
  summary        TEXT    NOT NULL DEFAULT '{}', -- JSON
  lint           TEXT    NOT NULL DEFAULT '[]', -- JSON LintFinding[]
  error          TEXT,
  owner_pid      INTEGER,                       -- process that queued/ran it, for crash recovery
  owner_token    TEXT,                          -- the Store instance inside that process
  created_at     TEXT    NOT NULL,
  started_at     TEXT,
  finished_at    TEXT
);
CREATE INDEX runs_created ON runs(created_at DESC, id DESC);
CREATE INDEX runs_parent ON runs(parent_id);
CREATE INDEX runs_model ON runs(model_id);
CREATE INDEX runs_dataset ON runs(dataset_id);
CREATE INDEX runs_active ON runs(status) WHERE status IN ('queued', 'running');

CREATE TABLE run_tensors (
  id           INTEGER PRIMARY KEY,
  run_id       INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  layer        TEXT    NOT NULL,
  role         TEXT    NOT NULL CHECK (role IN ('weight', 'activation', 'input', 'bias')),
  granularity  TEXT    NOT NULL CHECK (granularity IN ('per-tensor', 'per-channel')),
  axis         INTEGER,
  bits         INTEGER NOT NULL,
  symmetric    INTEGER NOT NULL CHECK (symmetric IN (0, 1)),
  narrow_range INTEGER NOT NULL CHECK (narrow_range IN (0, 1)),
  channels     INTEGER NOT NULL,
  min          REAL    NOT NULL,
  max          REAL    NOT NULL,
  scale        REAL    NOT NULL,
  zero_point   INTEGER NOT NULL,
  sqnr         REAL,
  clip_rate    REAL,
  UNIQUE (run_id, layer, role)
);

-- Per-channel vectors of one run_tensors row, little-endian typed-array bytes.
CREATE TABLE run_channels (
  tensor_id  INTEGER PRIMARY KEY REFERENCES run_tensors(id) ON DELETE CASCADE,
  min        BLOB NOT NULL,  -- Float32Array
  max        BLOB NOT NULL,  -- Float32Array
  scale      BLOB NOT NULL,  -- Float32Array
  zero_point BLOB NOT NULL,  -- Int32Array
  sqnr       BLOB            -- Float32Array, optional
);

CREATE TABLE histograms (
  id           INTEGER PRIMARY KEY,
  run_id       INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  layer        TEXT    NOT NULL,
  role         TEXT    NOT NULL,
  lo           REAL    NOT NULL,  -- left edge of the first bin
  hi           REAL    NOT NULL,  -- right edge of the last bin
  range_min    REAL    NOT NULL,  -- quantization range chosen from it
  range_max    REAL    NOT NULL,
  counts_dtype TEXT    NOT NULL CHECK (counts_dtype IN ('float32', 'uint32')),
  counts       BLOB    NOT NULL,
  UNIQUE (run_id, layer, role)
);

CREATE TABLE run_curves (
  id       INTEGER PRIMARY KEY,
  run_id   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step     INTEGER NOT NULL,
  epoch    REAL    NOT NULL,
  split    TEXT    NOT NULL CHECK (split IN ('train', 'val')),
  loss     REAL,
  accuracy REAL,
  ranges   TEXT               -- JSON { quantizer: { min, max } } at this step
);
CREATE INDEX run_curves_run ON run_curves(run_id, step);

CREATE TABLE exports (
  id           INTEGER PRIMARY KEY,
  run_id       INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  format       TEXT    NOT NULL,
  path         TEXT    NOT NULL,
  size         INTEGER NOT NULL,
  sha256       TEXT    NOT NULL,
  verification TEXT    NOT NULL DEFAULT '{}', -- JSON
  audit        TEXT    NOT NULL DEFAULT '{}', -- JSON
  created_at   TEXT    NOT NULL
);
CREATE INDEX exports_run ON exports(run_id);

PRAGMA application_id = ${APPLICATION_ID};
`;

/**
 * Version 2: the sensitivity run kind (runs.kind's CHECK gains 'sensitivity',
 * which SQLite can change only by rebuilding the table: every row and id is
 * copied, the indexes made again) and its per-layer results, one row a
 * layer (a few to a few hundred per run, read whole and sorted by the
 * viewer; rows rather than a BLOB so each case stays a column SQL can read).
 */
const V2 = /* sql */ `
CREATE TABLE runs_v2 (
  id             INTEGER PRIMARY KEY,
  kind           TEXT    NOT NULL CHECK (kind IN ('ptq', 'qat', 'float', 'sensitivity')),
  name           TEXT    NOT NULL,
  status         TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled', 'interrupted')),
  model_id       INTEGER NOT NULL REFERENCES models(id) ON DELETE RESTRICT,
  dataset_id     INTEGER NOT NULL REFERENCES datasets(id) ON DELETE RESTRICT,
  parent_id      INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  config         TEXT    NOT NULL,
  backend        TEXT,
  float_accuracy REAL,
  quant_accuracy REAL,
  float_loss     REAL,
  quant_loss     REAL,
  summary        TEXT    NOT NULL DEFAULT '{}',
  lint           TEXT    NOT NULL DEFAULT '[]',
  error          TEXT,
  owner_pid      INTEGER,
  owner_token    TEXT,
  created_at     TEXT    NOT NULL,
  started_at     TEXT,
  finished_at    TEXT
);
INSERT INTO runs_v2 (id, kind, name, status, model_id, dataset_id, parent_id, config, backend, float_accuracy, quant_accuracy,
                     float_loss, quant_loss, summary, lint, error, owner_pid, owner_token, created_at, started_at, finished_at)
  SELECT id, kind, name, status, model_id, dataset_id, parent_id, config, backend, float_accuracy, quant_accuracy,
         float_loss, quant_loss, summary, lint, error, owner_pid, owner_token, created_at, started_at, finished_at
    FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v2 RENAME TO runs;
CREATE INDEX runs_created ON runs(created_at DESC, id DESC);
CREATE INDEX runs_parent ON runs(parent_id);
CREATE INDEX runs_model ON runs(model_id);
CREATE INDEX runs_dataset ON runs(dataset_id);
CREATE INDEX runs_active ON runs(status) WHERE status IN ('queued', 'running');

-- One row per layer of a sensitivity run (engine/sensitivity); accuracies on the run's subset, SQNR of the
-- model output against float in dB (NULL: equal to it exactly); a case the layer has no quantizer for is NULL.
CREATE TABLE run_sensitivity (
  id                  INTEGER PRIMARY KEY,
  run_id              INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  position            INTEGER NOT NULL,   -- graph order
  layer               TEXT    NOT NULL,
  op                  TEXT    NOT NULL,
  weight_quantizer    TEXT,
  activation_quantizer TEXT,
  alone_accuracy      REAL    NOT NULL,   -- only this layer quantized
  alone_sqnr          REAL,
  float_accuracy      REAL    NOT NULL,   -- everything quantized but this layer
  float_sqnr          REAL,
  weights_accuracy    REAL,               -- only this layer's weights
  weights_sqnr        REAL,
  activation_accuracy REAL,               -- only this layer's output
  activation_sqnr     REAL,
  UNIQUE (run_id, layer)
);
`;

/**
 * Version 3: cross-layer equalization skips a conv → Dense pair joined by a
 * Flatten unless recovery.flatten is 'cross'. Runs stored before the setting
 * existed crossed it: their configs say so, so a rerun or the config diff
 * reads what they did.
 */
const V3 = /* sql */ `
UPDATE runs SET config = json_set(config, '$.recovery.flatten', 'cross')
 WHERE json_valid(config) AND json_extract(config, '$.recovery.cle') = 1 AND json_type(config, '$.recovery.flatten') IS NULL;
`;

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, description: 'initial schema', sql: V1 },
  { version: 2, description: 'sensitivity runs: runs.kind allows it, run_sensitivity holds their layers', sql: V2, rebuildsTables: true },
  { version: 3, description: 'CLE runs stored before recovery.flatten record that they crossed Flatten', sql: V3 },
];

/** The schema version this build writes and understands. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

export function userVersion(db: Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Applies every step newer than the file, each in its own IMMEDIATE
 * transaction that re-reads the version, so two processes opening a fresh
 * file at once do not both create the tables. Returns the final version.
 */
export function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): number {
  // Up to date: no write transaction at all, so opening under another process's write lock does not wait for it here.
  if (migrations.every((m) => userVersion(db) >= m.version)) return userVersion(db);
  for (const m of migrations) {
    const step = db.transaction(() => {
      if (userVersion(db) >= m.version) return;
      db.exec(m.sql);
      if (m.rebuildsTables) {
        const broken = db.pragma('foreign_key_check') as unknown[];
        if (broken.length > 0) throw new Error(`migration ${m.version} would leave ${broken.length} rows with a dangling reference`);
      }
      db.pragma(`user_version = ${m.version}`);
    });
    // PRAGMA foreign_keys is a no-op inside a transaction: switched around it.
    const keys = m.rebuildsTables ? (db.pragma('foreign_keys', { simple: true }) as number) : 0;
    if (keys) db.pragma('foreign_keys = OFF');
    try {
      step.immediate();
    } finally {
      if (keys) db.pragma('foreign_keys = ON');
    }
  }
  return userVersion(db);
}
