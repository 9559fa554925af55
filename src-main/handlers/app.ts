import type { Studio } from '../studio-types.js';
import type { Handlers } from '../api/dispatch.js';

export function appHandlers(studio: Studio): Pick<Handlers, 'app.info' | 'app.storeVersion'> {
  return {
    'app.info': () => studio.info(),
    'app.storeVersion': () => ({ version: studio.store.dataVersion() }),
  };
}
