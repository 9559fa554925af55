import type { Studio } from '../studio-types.js';
import type { Handlers } from '../api/dispatch.js';
import { importDataset } from '../library/import-dataset.js';

export function datasetHandlers(studio: Studio): Pick<Handlers, 'datasets.list' | 'datasets.import'> {
  return {
    'datasets.list': () => studio.store.datasets.list(),
    'datasets.import': (req) => importDataset(studio, req),
  };
}
