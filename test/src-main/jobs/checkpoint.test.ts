/**
 * A training run that diverged keeps its best checkpoint: the engine's
 * 'checkpoint' event becomes a model in the library (real SQLite store),
 * named after the run and the step, and the sentence for the run's error
 * message names it.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { deserializeGraph, serializeGraph } from '../../../src-main/engine/graph/serialize.js';
import { initBackend } from '../../../src-main/engine/backend.js';
import { builtinModel } from '../../../src-main/io/models/builtins.js';
import { storeCheckpoint } from '../../../src-main/jobs/run-jobs.js';
import { openStore } from '../../../src-main/store/index.js';
import { tempDir } from '../../helpers/temp.js';

test('storeCheckpoint puts the checkpoint in the library and names it for the error message', async () => {
  await initBackend('cpu');
  const store = openStore(path.join(tempDir(), 'studio.sqlite'));
  try {
    const bytes = serializeGraph(builtinModel('dense_784_256_128_10').build());
    const model = store.models.insert({ name: 'dense', source: 'builtin', format: 'builtin', path: null, sha256: 'start', inputShape: [784], numClasses: 10, layerCount: 3, paramCount: 235146, description: 'start', layers: [] });
    const dataset = store.datasets.insert({ name: 'd', source: 'imported', format: 'idx', path: null, sha256: 'd', count: 10, inputShape: [784], numClasses: 10 });
    const run = store.runs.create({ kind: 'float', config: { modelId: model.id, datasetId: dataset.id } });
    const sentence = storeCheckpoint(store, run.id, { step: 120, valAccuracy: 0.8125, valLoss: 0.5, model: bytes });
    const kept = store.models.list().find((m) => m.name === `${run.name}_best_step120`);
    assert.ok(kept, 'the checkpoint is a model in the library');
    assert.equal(kept.paramCount, 235146);
    assert.match(sentence, new RegExp(`step 120, validation accuracy 81\\.25%\\) is kept in the library as model "${run.name}_best_step120" \\(id ${kept.id}\\)`));
    const stored = store.models.artifact(kept.id)!.bytes!;
    assert.equal(deserializeGraph(stored).nodes.length, deserializeGraph(bytes).nodes.length);
  } finally {
    store.close();
  }
});
