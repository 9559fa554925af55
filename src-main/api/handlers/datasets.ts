import type { Studio } from '../../studio.js';
import type { Handlers } from '../dispatch.js';

export function datasetHandlers(studio: Studio): Pick<Handlers, 'datasets.list'> {
  return {
    'datasets.list': () => studio.store.datasets.list(),
  };
}
