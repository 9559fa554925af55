/**
 * The accuracy bench's studio networks built with its torch.ao peer's recipe
 * (src-main/io/models/builtin-recipe.ts: PyTorch's initial weights and
 * BatchNorm ε / momentum), stored in the bench's studio as a model like any
 * built-in. Bench only: users' `models.importBuiltin` keeps Keras's defaults.
 */
import type { ModelSummary } from '../src-main/api/contract.js';
import { serializeGraph } from '../src-main/engine/graph/serialize.js';
import type { BuiltinRecipe } from '../src-main/io/models/builtin-recipe.js';
import { builtinDescription, builtinModel } from '../src-main/io/models/builtins.js';
import { storeModel } from '../src-main/library/store-model.js';
import type { Studio } from '../src-main/studio.js';

/** `draw` picks another seeded draw of the initial weights (0: the built-in's own), so a float cell over seeds varies the start as torch's seeds do. */
export function importBuiltinWithRecipe(studio: Studio, name: string, recipe: BuiltinRecipe, draw = 0): ModelSummary {
  const entry = builtinModel(name);
  const bytes = serializeGraph(entry.build(recipe, draw));
  const description = `${builtinDescription(entry)} Initial weights and BatchNorm settings: the ${recipe} recipe${draw ? `, draw ${draw}` : ''}.`;
  const stored = recipe === 'keras' && draw === 0 ? name : `${name}_${recipe}_init${draw ? `_draw${draw}` : ''}`;
  return storeModel(studio.store, { name: stored, source: 'builtin', format: 'builtin', path: null, description }, bytes);
}
