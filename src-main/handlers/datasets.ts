import type { Studio } from '../studio-types.js';
import { ApiError, type Handlers } from '../api/dispatch.js';
import { importDataset } from '../library/import-dataset.js';
import { StoreConflictError } from '../store/index.js';

export function datasetHandlers(studio: Studio): Pick<Handlers, 'datasets.list' | 'datasets.import' | 'datasets.delete'> {
  return {
    'datasets.list': () => studio.store.datasets.list(),
    'datasets.import': (req) => importDataset(studio, req),
    'datasets.delete': ({ id }) => {
      const dataset = studio.store.datasets.get(id);
      if (!dataset) throw new ApiError('not_found', `dataset ${id} does not exist`);
      try {
        return { deleted: studio.store.datasets.delete(id) };
      } catch (err) {
        if (err instanceof StoreConflictError) throw new ApiError('conflict', `dataset “${dataset.name}”: ${err.message}`);
        throw err;
      }
    },
  };
}
