import type { Studio } from '../studio-types.js';
import { ApiError, type Handlers } from '../api/dispatch.js';
import { importBuiltinModel, importModel, listBuiltinModels } from '../library/models.js';
import { loadModelBytes } from '../jobs/run-jobs.js';
import { RunConfig } from '../api/run-config.js';
import type { VariableExplanation } from '../api/contract.js';

export function modelHandlers(studio: Studio): Pick<Handlers, 'models.list' | 'models.get' | 'models.builtins' | 'models.importBuiltin' | 'models.import' | 'models.explain'> {
  return {
    'models.list': () => studio.store.models.list(),
    'models.get': ({ id }) => {
      const model = studio.store.models.getDetail(id);
      if (!model) throw new ApiError('not_found', `model ${id} does not exist`);
      return model;
    },
    'models.builtins': async () => {
      const catalog = await listBuiltinModels(studio.engine);
      const imported = new Set(studio.store.models.list().filter((m) => m.source === 'builtin').map((m) => m.name));
      return catalog.map((b) => ({ ...b, imported: imported.has(b.name) }));
    },
    'models.importBuiltin': ({ name }) => importBuiltinModel(studio, name),
    'models.import': (req) => importModel(studio, req),
    'models.explain': async ({ id, config }) => {
      const { bytes } = loadModelBytes(studio.store, id);
      // Any dataset id validates the config; explaining does not read data.
      const full = RunConfig.parse({ datasetId: 1, ...config, modelId: id });
      return studio.engine.call<VariableExplanation>('explain', { model: bytes, config: full });
    },
  };
}
