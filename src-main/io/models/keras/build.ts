/**
 * A normalised Keras config plus its weights → tfjs-layers model → the
 * studio's Graph (through the same graphFromLayersModel as TF.js models, so
 * layers the IR does not model become opaque float layers).
 */
import * as tf from '@tensorflow/tfjs';
import { buildOpaqueLayer, graphFromLayersModel, UnsupportedModelError } from '../../../engine/graph/from-layers.js';
import type { Graph } from '../../../engine/graph/types.js';
import type { NormalisedModel } from './config.js';
import { KerasModelError } from './errors.js';
import { camel, checkIgnoredOptions } from './options.js';
import type { LayerWeights } from './weights.js';

export async function graphFromKeras(model: NormalisedModel, weights: Map<string, LayerWeights>, file: string): Promise<Graph> {
  const classes = tf.serialization.SerializationMap.getMap().classNameMap;
  const unknown = model.layers.filter((l) => !classes[l.className]);
  if (unknown.length > 0) {
    const list = unknown.map((l) => `${l.name} (${l.className}${l.module && !l.module.startsWith('keras') ? ` from ${l.module}` : ''})`).join(', ');
    throw new KerasModelError(file, `TensorFlow.js cannot build layer${unknown.length > 1 ? 's' : ''} ${list}: unknown layer class${unknown.length > 1 ? 'es' : ''}`);
  }
  let tfModel: tf.LayersModel;
  try {
    tfModel = await tf.models.modelFromJSON({ modelTopology: model.topology as never });
  } catch (e) {
    const layer = failingLayer(model);
    const problem = layer
      ? `TensorFlow.js cannot build layer ${layer.name} (${layer.className}): ${layer.message}`
      : `TensorFlow.js could not build the model from its config: ${(e as Error).message}`;
    throw new KerasModelError(file, problem, { cause: e });
  }
  try {
    checkIgnoredOptions(topologyLayers(model), tfModel, file);
    setWeights(tfModel, weights, file);
    return graphFromLayersModel(tfModel);
  } catch (e) {
    if (e instanceof UnsupportedModelError) throw new KerasModelError(file, e.message, { cause: e });
    throw e;
  } finally {
    tfModel.dispose();
  }
}

function setWeights(model: tf.LayersModel, weights: Map<string, LayerWeights>, file: string): void {
  const names = new Set(model.layers.map((l) => l.name));
  for (const [name, w] of weights) {
    if (w.values.length > 0 && !names.has(name)) throw new KerasModelError(file, `the weights hold layer ${name} (${w.where}), which the model config does not have`);
  }
  for (const layer of model.layers) {
    const expected = layer.weights;
    const found = weights.get(layer.name);
    const got = found?.values ?? [];
    const where = found?.where ?? 'the file';
    if (expected.length === 0 && got.length === 0) continue;
    const label = `layer ${layer.name} (${layer.getClassName()})`;
    if (got.length !== expected.length) {
      throw new KerasModelError(
        file,
        `${label} needs ${expected.length} weight${expected.length === 1 ? '' : 's'} (${expected.map((v) => `${shortName(v.originalName)} [${v.shape.join(',')}]`).join(', ')}) but ${where} holds ${got.length}`,
      );
    }
    expected.forEach((v, i) => {
      const shape = got[i]!.shape;
      if (shape.length !== v.shape.length || shape.some((d, j) => d !== v.shape[j])) {
        throw new KerasModelError(file, `${label}: weight ${shortName(v.originalName)} should have shape [${v.shape.join(',')}] but ${where} holds [${shape.join(',')}]`);
      }
    });
    const tensors = got.map((w) => tf.tensor(w.values, w.shape, 'float32'));
    try {
      layer.setWeights(tensors);
    } finally {
      tf.dispose(tensors);
    }
  }
}

/**
 * Which layer tfjs refuses, when the model as a whole would not build: each
 * layer is built alone from its config (keys camelCased as tfjs does when it
 * loads Keras JSON). Best effort: problems that only show when layers are
 * connected leave it undefined.
 */
function failingLayer(model: NormalisedModel): { name: string; className: string; message: string } | undefined {
  for (const l of topologyLayers(model)) {
    const name = String(l.config['name'] ?? '');
    try {
      buildOpaqueLayer(l.class_name, camelKeys(l.config) as Record<string, unknown>, name);
    } catch (e) {
      return { name, className: l.class_name, message: (e as Error).message };
    }
  }
  return undefined;
}

function topologyLayers(model: NormalisedModel): { class_name: string; config: Record<string, unknown> }[] {
  return (model.topology['config'] as { layers: { class_name: string; config: Record<string, unknown> }[] }).layers;
}

/** As tfjs-layers' convertPythonicToTs: keys and string values camelCased, `name` values kept. */
function camelKeys(value: unknown): unknown {
  if (typeof value === 'string') return camel(value);
  if (Array.isArray(value)) return value.map(camelKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [camel(k), k === 'name' && typeof v === 'string' ? v : camelKeys(v)]));
}

function shortName(variableName: string): string {
  return variableName.slice(variableName.lastIndexOf('/') + 1);
}
