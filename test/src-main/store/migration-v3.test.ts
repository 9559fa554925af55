/**
 * Schema version 3: runs stored with cross-layer equalization before
 * recovery.flatten existed crossed every Flatten; their configs are made to
 * say so, and nothing else in the file changes.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { openStore } from '../../../src-main/store/index.js';
import { MIGRATIONS, migrate } from '../../../src-main/store/migrations.js';
import { tempDir } from './helpers.js';

const now = '2026-12-01T10:00:00.000Z';
const configs: Record<number, string> = {
  1: JSON.stringify({ modelId: 1, datasetId: 1 }),
  2: JSON.stringify({ modelId: 1, datasetId: 1, recovery: { cle: true, relu6: 'skip', highBiasAbsorption: false, biasCorrection: 'empirical' } }),
  3: JSON.stringify({ modelId: 1, datasetId: 1, recovery: { cle: false, relu6: 'skip', highBiasAbsorption: false, biasCorrection: 'analytic' } }),
  4: JSON.stringify({ modelId: 1, datasetId: 1, recovery: { cle: true, relu6: 'as-relu', flatten: 'skip', highBiasAbsorption: false, biasCorrection: 'off' } }),
};

function writeV2(file: string): void {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  migrate(db, MIGRATIONS.slice(0, 2));
  db.prepare(`INSERT INTO models (id, name, source, format, sha256, input_shape, num_classes, layer_count, param_count, artifact, created_at)
              VALUES (1, 'cnn', 'builtin', 'studio-ir', 'm1', '[28,28,1]', 10, 7, 1000, x'00', ?)`).run(now);
  db.prepare(`INSERT INTO datasets (id, name, source, format, path, sha256, count, input_shape, num_classes, created_at)
              VALUES (1, 'fm', 'builtin', 'idx', '/d', 'd1', 100, '[28,28,1]', 10, ?)`).run(now);
  const run = db.prepare(`INSERT INTO runs (id, kind, name, status, model_id, dataset_id, config, summary, lint, created_at, finished_at)
                          VALUES (?, 'ptq', ?, 'done', 1, 1, ?, '{}', '[]', ?, ?)`);
  for (const [id, config] of Object.entries(configs)) run.run(Number(id), `run${id}`, config, now, now);
  db.close();
}

test('a version-2 database: CLE runs without recovery.flatten read as having crossed Flatten; other runs are untouched', (t) => {
  const file = path.join(tempDir(t), 'v2.db');
  writeV2(file);
  const store = openStore(file);
  t.after(() => store.close());
  assert.equal(store.runs.get(2)!.config.recovery!.flatten, 'cross');
  assert.equal(store.runs.get(4)!.config.recovery!.flatten, 'skip', 'a run that says skip keeps it');
  const raw = new Database(file, { readonly: true });
  t.after(() => raw.close());
  const stored = (id: number) => raw.prepare('SELECT config FROM runs WHERE id = ?').pluck().get(id) as string;
  for (const id of [1, 3, 4]) assert.equal(stored(id), configs[id], `run ${id} unchanged`);
  assert.deepEqual(JSON.parse(stored(2)), { ...JSON.parse(configs[2]!), recovery: { ...JSON.parse(configs[2]!).recovery, flatten: 'cross' } });
  // A run created now with CLE takes the new default.
  const fresh = store.runs.create({ kind: 'ptq', config: { modelId: 1, datasetId: 1, recovery: { cle: true } } });
  assert.equal(store.runs.get(fresh.id)!.config.recovery!.flatten, 'skip');
});
