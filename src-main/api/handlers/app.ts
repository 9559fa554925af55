import type { Studio } from '../../studio.js';
import type { Handlers } from '../dispatch.js';

export function appHandlers(studio: Studio): Pick<Handlers, 'app.info'> {
  return {
    'app.info': () => studio.info(),
  };
}
