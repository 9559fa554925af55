/**
 * Weights of each layer, in the layer's own order, from the two HDF5 layouts
 * Keras writes. Keras itself matches them to layers by position within a
 * layer, so the builder does too (checking count and shapes).
 *
 * - Keras 2 (.h5, model.save): group model_weights, attribute layer_names
 *   listing the layers; in each layer's group the attribute weight_names gives
 *   the datasets in order (e.g. "dense/kernel:0", "dense/bias:0").
 * - Keras 3 (model.weights.h5 in a .keras archive): layers/<key>/vars/0, 1, …
 *   where <key> is the snake_case class name, numbered per class in model.layers
 *   order (dense, dense_1, …; not the layer's own name). Recent Keras 3
 *   versions also put the layer's name in a `name` attribute of vars, which is
 *   preferred when present. Keras 2.13's zip format named the group
 *   _layer_checkpoint_dependencies instead of layers.
 */
import { leafLayerInfos, type KerasLayerInfo } from './config.js';
import { KerasModelError } from './errors.js';
import { entityAt, isGroup, readWeight, stringAttr, stringListAttr, type H5Group, type ReadWeight } from './hdf5.js';

export interface LayerWeights {
  /** float32 values; integer datasets (Normalization's int64 count) are marked `integer`. */
  values: ReadWeight[];
  /** Where they were found in the HDF5 file, for error messages. */
  where: string;
}

/** Weights by layer path name (a nested model's layers as "sequential_1/dense"). */
export function readKeras2Weights(root: H5Group, layers: KerasLayerInfo[], file: string): Map<string, LayerWeights> {
  const group = entityAt(root, 'model_weights');
  if (!isGroup(group)) throw new KerasModelError(file, 'has a model config but no model_weights group; the weights are missing');
  const layerNames = stringListAttr(group, 'layer_names');
  if (!layerNames) throw new KerasModelError(file, 'model_weights has no layer_names attribute; the weights cannot be matched to layers');
  const nested = new Map(layers.filter((l) => l.layers).map((l) => [l.name, l]));
  const out = new Map<string, LayerWeights>();
  for (const name of layerNames) {
    const layerGroup = entityAt(group, name);
    if (!isGroup(layerGroup)) throw new KerasModelError(file, `model_weights lists layer ${name} but holds no group for it`);
    const weightNames = stringListAttr(layerGroup, 'weight_names') ?? [];
    const where = `model_weights/${name}`;
    const model = nested.get(name);
    if (!model) {
      out.set(name, { values: weightNames.map((w) => readWeight(layerGroup, w, file)), where });
      continue;
    }
    // A nested model's group holds the weights of all its layers, at any depth.
    const leaves = leafLayerInfos(model.layers!, [name]);
    for (const leaf of leaves) out.set(leaf.path, { values: [], where });
    for (const w of weightNames) out.get(leafOfWeight(w, leaves, where, file))!.values.push(readWeight(layerGroup, w, file));
  }
  return out;
}

/**
 * The layer path a nested model's weight belongs to, from its name: Keras 2
 * names it "<layer>/<weight>:0", prefixed by some of the models holding the
 * layer ("model14/block_1_expand/kernel:0"), so the layer whose path shares the
 * longest ending with the name's layer part is it. The file lists the nested
 * model's trainable weights first, across all its layers; taken in file order,
 * each layer's own still come in its own order (gamma, beta, moving_mean,
 * moving_variance), the order setWeights takes.
 */
function leafOfWeight(weightName: string, leaves: { name: string; parts: string[]; path: string }[], where: string, file: string): string {
  const parts = weightName.replace(/:\d+$/, '').split('/').slice(0, -1);
  // Scopes below the layer (an RNN's cell: "lstm/lstm_cell/kernel:0") name no layer: cut them off.
  const ownNames = new Set(leaves.map((l) => l.name));
  let end = parts.length;
  while (end > 0 && !ownNames.has(parts[end - 1]!)) end--;
  const layerParts = parts.slice(0, end);
  const sharedEnd = (path: string[]) => {
    let n = 0;
    while (n < path.length && n < layerParts.length && path[path.length - 1 - n] === layerParts[layerParts.length - 1 - n]) n++;
    return n;
  };
  const scored = leaves.map((l) => ({ path: l.path, score: sharedEnd(l.parts) }));
  const best = Math.max(0, ...scored.map((l) => l.score));
  const hits = scored.filter((l) => l.score === best);
  if (best === 0) throw new KerasModelError(file, `${where} holds weight ${weightName}, which belongs to no layer of the nested model`);
  if (hits.length > 1) throw new KerasModelError(file, `${where} holds weight ${weightName}, which could belong to layer ${hits.map((h) => h.path).join(' or ')}`);
  return hits[0]!.path;
}

/** Weights by layer path name; a nested model's layers sit under layers/<its key>/layers/. */
export function readKeras3Weights(root: H5Group, layers: KerasLayerInfo[], file: string): Map<string, LayerWeights> {
  const prefix = isGroup(entityAt(root, 'layers')) ? 'layers' : isGroup(entityAt(root, '_layer_checkpoint_dependencies')) ? '_layer_checkpoint_dependencies' : null;
  if (!prefix) throw new KerasModelError(file, 'model.weights.h5 has no layers group; the weights are missing');
  const out = new Map<string, LayerWeights>();
  readKeras3Level(root, prefix, prefix, layers, '', out, file);
  return out;
}

/**
 * One model's layers: layers/<key>/vars/0, 1, … where <key> is the snake_case
 * class name numbered per class in config order, or the group whose vars carry
 * the layer's name. `container` is the group of the model's layers ("layers",
 * "layers/functional/layers"…); Keras 2.13 used `word` (_layer_checkpoint_dependencies) for "layers".
 */
function readKeras3Level(root: H5Group, word: string, container: string, layers: KerasLayerInfo[], pathPrefix: string, out: Map<string, LayerWeights>, file: string): void {
  const byName = groupsByLayerName(entityAt(root, container), container);
  const used = new Map<string, number>();
  for (const layer of layers) {
    // Keras 3 saves the layers of model.layers; operations (x + 3.0) are none.
    if (layer.operation) continue;
    const base = snakeCase(layer.className);
    const n = used.has(base) ? used.get(base)! + 1 : 0;
    used.set(base, n);
    const group = byName.get(layer.name) ?? `${container}/${n === 0 ? base : `${base}_${n}`}`;
    if (layer.layers) {
      readKeras3Level(root, word, `${group}/${word}`, layer.layers, `${pathPrefix}${layer.name}/`, out, file);
      continue;
    }
    const where = `${group}/vars`;
    const vars = entityAt(root, where);
    if (!isGroup(vars)) {
      out.set(pathPrefix + layer.name, { values: [], where });
      continue;
    }
    const keys = vars.keys();
    const values = keys.map((_, i) => {
      if (!keys.includes(String(i))) throw new KerasModelError(file, `model.weights.h5: ${where} holds [${keys.join(', ')}], not variables numbered 0..${keys.length - 1}`);
      return readWeight(vars, String(i), file);
    });
    out.set(pathPrefix + layer.name, { values, where });
  }
}

/** Layer groups under `container` by the `name` attribute Keras 3.x writes on their vars (empty for files without it). */
function groupsByLayerName(group: ReturnType<H5Group['get']>, container: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!isGroup(group)) return out;
  for (const key of group.keys()) {
    const vars = entityAt(group, `${key}/vars`);
    if (!isGroup(vars)) continue;
    const name = stringAttr(vars, 'name');
    if (name !== undefined) out.set(name, `${container}/${key}`);
  }
  return out;
}

/** Keras's naming.to_snake_case: Conv2D → conv2d, BatchNormalization → batch_normalization, ReLU → re_lu. */
export function snakeCase(name: string): string {
  return name
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}
