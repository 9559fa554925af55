/**
 * exports.*: an export runs as an engine job (jobs/export-job-manager.ts)
 * with progress events and cancel; exports.create is the same job awaited,
 * for the CLI and tests. Nothing is stored when any step fails, and no file
 * is left behind.
 */
import type { Studio } from '../studio-types.js';
import { ApiError, type Handlers } from '../api/dispatch.js';
import { readFileGraph } from '../export/file-graph/index.js';
import { formatInfo } from '../export/formats.js';

type ExportMethods = 'exports.create' | 'exports.start' | 'exports.cancel' | 'exports.running' | 'exports.list' | 'exports.get' | 'exports.graph' | 'exports.formats' | 'exports.destination' | 'exports.showInFolder';

export function exportHandlers(studio: Studio): Pick<Handlers, ExportMethods> {
  const { store } = studio;
  return {
    'exports.create': async (req) => {
      const job = await studio.exports.start(req);
      const outcome = await studio.exports.outcome(job.exportJobId);
      if (!outcome) throw new ApiError('failed', `export job ${job.exportJobId} vanished`);
      if (!outcome.ok) throw new ApiError(/already exists/.test(outcome.message) ? 'conflict' : 'failed', outcome.message);
      return outcome.record;
    },
    'exports.start': async (req) => {
      const job = await studio.exports.start(req);
      return { exportJobId: job.exportJobId, path: job.path };
    },
    'exports.cancel': ({ exportJobId }) => ({ cancelled: studio.exports.cancel(exportJobId) }),
    'exports.running': () => studio.exports.running(),
    'exports.list': ({ runId }) => {
      if (!store.runs.get(runId)) throw new ApiError('not_found', `run ${runId} does not exist`);
      return store.exports.listByRun(runId);
    },
    // No file manager here (web host, CLI): the path only. The Electron host replaces this (hosts/electron/desktop-handlers.ts).
    'exports.showInFolder': ({ id }) => ({ shown: false, path: exportPath(studio, id) }),
    'exports.get': ({ id }) => {
      const record = store.exports.get(id);
      if (!record) throw new ApiError('not_found', `export ${id} does not exist`);
      return record;
    },
    'exports.graph': async ({ id }) => {
      const record = store.exports.get(id);
      if (!record) throw new ApiError('not_found', `export ${id} does not exist`);
      if (record.format !== 'onnx' && record.format !== 'tflite') throw new ApiError('invalid_input', `export ${id} is a ${record.format} export (${record.path}); only ONNX and TFLite files have an operator graph to show`);
      const graph = await readFileGraph(record.path, record.format).catch((err: unknown) => {
        throw new ApiError('failed', `export ${id}: ${err instanceof Error ? err.message : String(err)}`);
      });
      return { exportId: id, path: record.path, ...graph };
    },
    'exports.formats': () => Object.values(formatInfo).map((f) => ({ format: f.format, description: f.description, target: f.target })),
    'exports.destination': () => ({ restricted: studio.exports.policy.folder !== null, folder: studio.exports.policy.folder }),
  };
}

/** The file of a stored export; a path only ever comes from the exports table, never from the caller. */
export function exportPath(studio: Pick<Studio, 'store'>, id: number): string {
  const record = studio.store.exports.get(id);
  if (!record) throw new ApiError('not_found', `export ${id} does not exist`);
  return record.path;
}
