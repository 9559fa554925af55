/**
 * The embedded defaults: an empty store gets the bundled sample model (a
 * Fashion-MNIST CNN trained by scripts/make-sample-model.js) and the bundled
 * Fashion-MNIST subset, so a first start has something to calibrate.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { importModelFile } from './library/models.js';
import { registerDataset } from './library/datasets.js';
import { assetsDir } from './paths.js';
import type { Studio } from './studio-types.js';
import type { Store } from './store/index.js';
import { describeArchitecture } from './engine/graph/describe.js';

export const SAMPLE_MODEL = path.join('sample', 'models', 'fashion_cnn', 'model.json');
export const SAMPLE_DATA = path.join('sample', 'fashion-mnist');

export const SAMPLE_MODEL_NAME = 'fashion_cnn_sample';
const SAMPLE_PURPOSE = 'Fashion-MNIST CNN trained on the bundled sample.';

/** The sample's description: its purpose, then its architecture as stored (so the text and the layer table agree). */
export function sampleDescription(store: Store, modelId: number): string | null {
  const detail = store.models.getDetail(modelId);
  return detail ? `${SAMPLE_PURPOSE} ${describeArchitecture(detail.layers)}` : null;
}

export async function ensureDefaults(studio: Pick<Studio, 'store' | 'engine'>): Promise<void> {
  const assets = assetsDir();
  if (studio.store.models.list().length === 0) {
    const file = path.join(assets, SAMPLE_MODEL);
    if (existsSync(file)) {
      await importModelFile(studio, file, { name: SAMPLE_MODEL_NAME, source: 'builtin', description: SAMPLE_PURPOSE });
    }
  }
  // Also corrects the description older builds stored (conv8/conv16/dense32 over a 32/64/128 model).
  const sample = studio.store.models.list().find((m) => m.name === SAMPLE_MODEL_NAME && m.source === 'builtin');
  const description = sample && sampleDescription(studio.store, sample.id);
  if (sample && description && sample.description !== description) studio.store.models.setDescription(sample.id, description);
  if (studio.store.datasets.list().length === 0) {
    const dir = path.join(assets, SAMPLE_DATA);
    if (existsSync(dir)) {
      await registerDataset(studio, {
        name: 'fashion-mnist-sample',
        path: dir,
        source: 'builtin',
        description: 'Fashion-MNIST subset bundled with the studio (Zalando Research, MIT; from Debian dataset-fashion-mnist)',
      });
    }
  }
}
