import { rmSync } from 'node:fs';
import type { Studio } from '../studio-types.js';
import { ApiError, type Handlers } from '../api/dispatch.js';
import { StoreConflictError } from '../store/index.js';
import { prepareRun } from '../jobs/run-jobs.js';

type RunMethods = 'runs.list' | 'runs.get' | 'runs.start' | 'runs.lint' | 'runs.cancel' | 'runs.rename' | 'runs.delete';

export function runHandlers(studio: Studio): Pick<Handlers, RunMethods> {
  return {
    'runs.list': () => studio.store.runs.list(),
    'runs.get': ({ id }) => {
      const run = studio.store.runs.detail(id);
      if (!run) throw new ApiError('not_found', `run ${id} does not exist`);
      return run;
    },
    'runs.start': (req) => studio.runs.start(req),
    'runs.lint': async (req) => {
      const prepared = await prepareRun(studio.store, studio.engine, req);
      return { findings: prepared.lint, defaultName: prepared.defaultName };
    },
    'runs.cancel': ({ id }) => ({ cancelled: studio.runs.cancel(id) }),
    'runs.rename': ({ id, name }) => {
      const run = studio.store.runs.rename(id, name);
      if (!run) throw new ApiError('not_found', `run ${id} does not exist`);
      studio.events.emit('runs.changed', { id, status: run.status });
      return run;
    },
    'runs.delete': ({ id }) => {
      if (studio.store.runs.status(id) === undefined) throw new ApiError('not_found', `run ${id} does not exist`);
      let outcome;
      try {
        outcome = studio.store.runs.delete(id);
      } catch (err) {
        if (err instanceof StoreConflictError) throw new ApiError('conflict', err.message);
        throw err;
      }
      // Rows first, files after: a file left behind is harmless, a row pointing nowhere is not.
      for (const file of outcome.exportPaths) rmSync(file, { force: true });
      return { deleted: outcome.deleted };
    },
  };
}
