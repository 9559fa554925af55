/**
 * Schema version 2 (sensitivity runs) on a database written at version 1:
 * the runs table is rebuilt for its new CHECK, and every row of every table
 * must come through unchanged, ids and references included, with the
 * foreign keys still acting (cascades, SET NULL) afterwards.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { openStore } from '../../../src-main/store/index.js';
import { MIGRATIONS, SCHEMA_VERSION, migrate } from '../../../src-main/store/migrations.js';
import { integrityCheck } from '../../helpers/sqlite.js';
import { tempDir } from './helpers.js';

const V1_TABLES = ['models', 'datasets', 'runs', 'run_tensors', 'run_channels', 'histograms', 'run_curves', 'exports'];
const CONFIG = JSON.stringify({ modelId: 1, datasetId: 1 });

/** A version-1 file holding a row in every table, a child run, a per-channel tensor and a BLOB. */
function writeV1(file: string): void {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  migrate(db, MIGRATIONS.slice(0, 1));
  const now = '2024-05-01T10:00:00.000Z';
  db.prepare(`INSERT INTO models (id, name, source, format, sha256, input_shape, num_classes, layer_count, param_count, artifact, created_at)
              VALUES (1, 'cnn', 'builtin', 'studio-ir', 'm1', '[28,28,1]', 10, 7, 1000, x'00ff10', ?)`).run(now);
  db.prepare(`INSERT INTO datasets (id, name, source, format, path, sha256, count, input_shape, num_classes, created_at)
              VALUES (1, 'fm', 'builtin', 'idx', '/d', 'd1', 100, '[28,28,1]', 10, ?)`).run(now);
  const run = db.prepare(`INSERT INTO runs (id, kind, name, status, model_id, dataset_id, parent_id, config, backend, float_accuracy, quant_accuracy, summary, lint, error, created_at, finished_at)
                          VALUES (?, ?, ?, 'done', 1, 1, ?, ?, 'wasm', 0.9, ?, '{"notes":["a"]}', '[]', NULL, ?, ?)`);
  run.run(7, 'ptq', 'parent', null, CONFIG, 0.88, now, now);
  run.run(9, 'qat', 'child', 7, CONFIG, 0.89, now, now);
  run.run(11, 'float', 'other', null, CONFIG, null, now, now);
  db.prepare(`INSERT INTO run_tensors (id, run_id, layer, role, granularity, axis, bits, symmetric, narrow_range, channels, min, max, scale, zero_point, sqnr, clip_rate)
              VALUES (3, 7, 'conv', 'weight', 'per-channel', 3, 8, 1, 1, 2, -1, 1, 0.01, 0, 40.5, 0)`).run();
  db.prepare(`INSERT INTO run_tensors (id, run_id, layer, role, granularity, axis, bits, symmetric, narrow_range, channels, min, max, scale, zero_point, sqnr, clip_rate)
              VALUES (4, 9, 'conv', 'weight', 'per-tensor', NULL, 8, 1, 1, 1, -1, 1, 0.01, 0, 39, NULL)`).run();
  db.prepare(`INSERT INTO run_channels (tensor_id, min, max, scale, zero_point, sqnr) VALUES (3, x'0000803f0000003f', x'00000040', x'01', x'02', NULL)`).run();
  db.prepare(`INSERT INTO histograms (run_id, layer, role, lo, hi, range_min, range_max, counts_dtype, counts) VALUES (7, 'conv', 'weight', -1, 1, -1, 1, 'uint32', x'0100000002000000')`).run();
  db.prepare(`INSERT INTO run_curves (run_id, step, epoch, split, loss, accuracy, ranges) VALUES (9, 10, 0.5, 'val', 0.4, 0.85, '{}')`).run();
  db.prepare(`INSERT INTO exports (run_id, format, path, size, sha256, created_at) VALUES (7, 'onnx', '/x.onnx', 123, 'e1', ?)`).run(now);
  db.close();
}

function snapshot(file: string): Record<string, unknown[]> {
  const db = new Database(file, { readonly: true });
  try {
    return Object.fromEntries(V1_TABLES.map((t) => [t, db.prepare(`SELECT * FROM ${t} ORDER BY rowid`).all()]));
  } finally {
    db.close();
  }
}

test('a version-1 database opens at the current version with every row, id and BLOB as it was', (t) => {
  const file = path.join(tempDir(t), 'v1.db');
  writeV1(file);
  const before = snapshot(file);
  assert.equal(before.runs!.length, 3);

  const store = openStore(file);
  t.after(() => store.close());
  assert.equal(store.schemaVersion, SCHEMA_VERSION);
  assert.deepEqual(snapshot(file), before, 'every table reads the same after the rebuild');
  assert.equal(integrityCheck(file), 'ok');

  const db = new Database(file, { readonly: true });
  try {
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.deepEqual(db.pragma('foreign_key_check'), []);
    const indexes = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'runs' AND name NOT LIKE 'sqlite_%' ORDER BY name`).pluck().all();
    assert.deepEqual(indexes, ['runs_active', 'runs_created', 'runs_dataset', 'runs_model', 'runs_parent']);
    assert.doesNotMatch(db.prepare(`SELECT sql FROM sqlite_master WHERE name = 'runs'`).pluck().get() as string, /runs_v2/);
  } finally {
    db.close();
  }

  // The store reads the old runs, takes a sensitivity run, and its foreign keys still act.
  assert.deepEqual(store.runs.list().map((r) => [r.id, r.kind, r.parentId]), [[11, 'float', null], [9, 'qat', 7], [7, 'ptq', null]]);
  const s = store.runs.create({ kind: 'sensitivity', config: { modelId: 1, datasetId: 1, sensitivity: { subset: 50 } } });
  assert.equal(s.kind, 'sensitivity');
  store.runs.delete(7);
  assert.equal(store.runs.get(9)!.parentId, null, 'ON DELETE SET NULL on the rebuilt table');
  assert.deepEqual(store.tensors.tensors(7), [], 'ON DELETE CASCADE into run_tensors');
  assert.equal(store.tensors.channels(7, 'conv', 'weight'), undefined);
  assert.equal(store.exports.listByRun(7).length, 0);
});

test('a version-1 database with a dangling reference is refused and left at version 1', (t) => {
  const file = path.join(tempDir(t), 'dangling.db');
  writeV1(file);
  const db = new Database(file);
  db.pragma('foreign_keys = OFF');
  db.prepare(`INSERT INTO run_curves (run_id, step, epoch, split) VALUES (404, 1, 0, 'train')`).run();
  db.close();
  const before = snapshot(file);
  assert.throws(() => openStore(file), /migration 2 would leave 1 rows with a dangling reference/);
  const after = new Database(file, { readonly: true });
  try {
    assert.equal(after.pragma('user_version', { simple: true }), 1);
    assert.equal(after.prepare(`SELECT count(*) FROM sqlite_master WHERE name IN ('run_sensitivity', 'runs_v2')`).pluck().get(), 0);
  } finally {
    after.close();
  }
  assert.deepEqual(snapshot(file), before);
});
