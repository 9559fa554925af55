/** Shared setup for the store tests: real files in fresh temp folders. */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { openStore, type Store } from '../../../src-main/store/index.js';

/** A fresh folder removed after the test. */
export function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qcs-store-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A new store in a nested folder (exercises parent creation), closed after the test. */
export function tempStore(t: TestContext): Store {
  const store = openStore(path.join(tempDir(t), 'nested', 'studio.db'));
  t.after(() => store.close());
  return store;
}

export function fileSha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

let seq = 0;

/** Inserts a model and a dataset a run can refer to. */
export function seed(store: Store, name = 'Fashion CNN'): { modelId: number; datasetId: number } {
  seq += 1;
  const model = store.models.insert({
    name,
    source: 'builtin',
    format: 'studio-ir',
    path: null,
    sha256: `model-sha-${seq}-${Math.random()}`,
    inputShape: [28, 28, 1],
    numClasses: 10,
    layerCount: 7,
    paramCount: 12345,
    description: 'small CNN',
  });
  const dataset = store.datasets.insert({
    name: `Fashion-MNIST ${seq}`,
    source: 'builtin',
    format: 'idx',
    path: null,
    sha256: `dataset-sha-${seq}-${Math.random()}`,
    count: 10000,
    inputShape: [28, 28, 1],
    numClasses: 10,
    preprocessing: { scale: 1 / 255 },
  });
  return { modelId: model.id, datasetId: dataset.id };
}
