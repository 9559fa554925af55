/**
 * exports.create / exports.list. The main thread reads the run from the store,
 * the engine worker writes, audits and verifies the file (calls.export), and
 * the result goes into the exports table. Nothing is stored when any step
 * fails, and the writer leaves no partial file.
 */
import path from 'node:path';
import type { Studio } from '../../studio.js';
import { ApiError, type Handlers } from '../dispatch.js';
import { ExportError, exportPayloadFromStore, storeExport, type ExportResult } from '../../export/index.js';

type ExportMethods = 'exports.create' | 'exports.list';

export function exportHandlers(studio: Studio): Pick<Handlers, ExportMethods> {
  const { store } = studio;
  return {
    'exports.create': async ({ runId, format, path: dest, verify, overwrite }) => {
      if (!path.isAbsolute(dest)) throw new ApiError('invalid_input', `export path must be absolute, got ${dest}`);
      let payload;
      try {
        payload = exportPayloadFromStore(store, runId, format, path.normalize(dest), { verify: verify ?? true, overwrite: overwrite ?? false });
      } catch (e) {
        if (e instanceof ExportError) throw new ApiError(/does not exist/.test(e.message) ? 'not_found' : 'conflict', e.message);
        throw e;
      }
      let result: ExportResult;
      try {
        result = await studio.engine.call<ExportResult>('export', payload);
      } catch (e) {
        throw new ApiError(/already exists/.test((e as Error).message) ? 'conflict' : 'failed', (e as Error).message);
      }
      return storeExport(store, runId, result);
    },
    'exports.list': ({ runId }) => {
      if (!store.runs.get(runId)) throw new ApiError('not_found', `run ${runId} does not exist`);
      return store.exports.listByRun(runId);
    },
  };
}
