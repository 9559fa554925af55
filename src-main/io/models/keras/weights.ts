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
import type { WeightData } from '../../../engine/graph/types.js';
import type { KerasLayerInfo } from './config.js';
import { KerasModelError } from './errors.js';
import { entityAt, isGroup, readWeight, stringAttr, stringListAttr, type H5Group } from './hdf5.js';

export interface LayerWeights {
  values: WeightData[];
  /** Where they were found in the HDF5 file, for error messages. */
  where: string;
}

export function readKeras2Weights(root: H5Group, file: string): Map<string, LayerWeights> {
  const group = entityAt(root, 'model_weights');
  if (!isGroup(group)) throw new KerasModelError(file, 'has a model config but no model_weights group; the weights are missing');
  const layerNames = stringListAttr(group, 'layer_names');
  if (!layerNames) throw new KerasModelError(file, 'model_weights has no layer_names attribute; the weights cannot be matched to layers');
  const out = new Map<string, LayerWeights>();
  for (const name of layerNames) {
    const layerGroup = entityAt(group, name);
    if (!isGroup(layerGroup)) throw new KerasModelError(file, `model_weights lists layer ${name} but holds no group for it`);
    const weightNames = stringListAttr(layerGroup, 'weight_names') ?? [];
    const values = weightNames.map((w) => readWeight(layerGroup, w, file));
    out.set(name, { values, where: `model_weights/${name}` });
  }
  return out;
}

export function readKeras3Weights(root: H5Group, layers: KerasLayerInfo[], file: string): Map<string, LayerWeights> {
  const prefix = isGroup(entityAt(root, 'layers')) ? 'layers' : isGroup(entityAt(root, '_layer_checkpoint_dependencies')) ? '_layer_checkpoint_dependencies' : null;
  if (!prefix) throw new KerasModelError(file, 'model.weights.h5 has no layers group; the weights are missing');
  const byName = varsByLayerName(entityAt(root, prefix) as H5Group, prefix);
  const out = new Map<string, LayerWeights>();
  const used = new Map<string, number>();
  for (const layer of layers) {
    const base = snakeCase(layer.className);
    const n = used.has(base) ? used.get(base)! + 1 : 0;
    used.set(base, n);
    const where = byName.get(layer.name) ?? `${prefix}/${n === 0 ? base : `${base}_${n}`}/vars`;
    const vars = entityAt(root, where);
    if (!isGroup(vars)) {
      out.set(layer.name, { values: [], where });
      continue;
    }
    const keys = vars.keys();
    const values = keys.map((_, i) => {
      if (!keys.includes(String(i))) throw new KerasModelError(file, `model.weights.h5: ${where} holds [${keys.join(', ')}], not variables numbered 0..${keys.length - 1}`);
      return readWeight(vars, String(i), file);
    });
    out.set(layer.name, { values, where });
  }
  return out;
}

/** layers/<key>/vars paths by the `name` attribute Keras 3.x writes on vars (empty for files without it). */
function varsByLayerName(group: H5Group, prefix: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const key of group.keys()) {
    const vars = entityAt(group, `${key}/vars`);
    if (!isGroup(vars)) continue;
    const name = stringAttr(vars, 'name');
    if (name !== undefined) out.set(name, `${prefix}/${key}/vars`);
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
