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

export const SAMPLE_MODEL = path.join('sample', 'models', 'fashion_cnn', 'model.json');
export const SAMPLE_DATA = path.join('sample', 'fashion-mnist');

export async function ensureDefaults(studio: Pick<Studio, 'store' | 'engine'>): Promise<void> {
  const assets = assetsDir();
  if (studio.store.models.list().length === 0) {
    const file = path.join(assets, SAMPLE_MODEL);
    if (existsSync(file)) {
      await importModelFile(studio, file, {
        name: 'fashion_cnn_sample',
        source: 'builtin',
        description: 'Fashion-MNIST CNN (conv8-BN-ReLU-pool, conv16-BN-ReLU-pool, dense32, dense10), trained on the bundled sample',
      });
    }
  }
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
