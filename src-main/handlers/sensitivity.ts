/** A sensitivity run's per-layer cases (store/sensitivity.ts), for the run detail and Compare. */
import type { Studio } from '../studio-types.js';
import { ApiError, type Handlers } from '../api/dispatch.js';

export function sensitivityHandlers(studio: Studio): Pick<Handlers, 'runs.sensitivity'> {
  return {
    'runs.sensitivity': ({ id }) => {
      if (studio.store.runs.status(id) === undefined) throw new ApiError('not_found', `run ${id} does not exist`);
      return { runId: id, layers: studio.store.sensitivity.list(id) };
    },
  };
}
