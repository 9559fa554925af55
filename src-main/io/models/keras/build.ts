/**
 * A normalised Keras config plus its weights → tfjs-layers model → the
 * studio's Graph (through the same graphFromLayersModel as TF.js models, so
 * layers the IR does not model become opaque float layers).
 */
import { tf } from '../../../engine/tfjs.js';
import { leafLayers } from '../../../engine/graph/flatten-nested.js';
import { buildOpaqueLayer, graphFromLayersModel, UnsupportedModelError } from '../../../engine/graph/from-layers.js';
import type { Graph } from '../../../engine/graph/types.js';
import { isModelClass, leafLayerInfos, type NormalisedModel } from './config.js';
import { KerasModelError } from './errors.js';
import { camel, checkIgnoredOptions } from './options.js';
import type { LayerWeights } from './weights.js';

export async function graphFromKeras(model: NormalisedModel, weights: Map<string, LayerWeights>, file: string): Promise<Graph> {
  const classes = tf.serialization.SerializationMap.getMap().classNameMap;
  const unknown = leafLayerInfos(model.layers).filter((l) => !classes[l.className]);
  if (unknown.length > 0) {
    const list = unknown.map((l) => `${l.path} (${l.className}${l.module && !l.module.startsWith('keras') ? ` from ${l.module}` : ''})`).join(', ');
    const many = unknown.length > 1;
    throw new KerasModelError(
      file,
      `TensorFlow.js cannot build layer${many ? 's' : ''} ${list}: unknown layer class${many ? 'es' : ''}. Replace ${many ? 'them' : 'it'} with standard Keras layers in the model (custom and third-party classes cannot be rebuilt without their Python code) and save it again`,
    );
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
    checkIgnoredOptions(topologyLayers(model).map((l) => ({ ...l, layer: layerAt(tfModel, l.parts) })), file);
    setWeights(tfModel, weights, file);
    return graphFromLayersModel(tfModel);
  } catch (e) {
    if (e instanceof UnsupportedModelError) throw new KerasModelError(file, e.message, { cause: e });
    throw e;
  } finally {
    tfModel.dispose();
  }
}

/**
 * Weights Keras keeps as integers and tfjs as float32, by class/weight:
 * Normalization's count (int64; a bookkeeping scalar of adapt(), unused at inference).
 */
const INTEGER_WEIGHTS = new Set(['Normalization/count']);

/** Sets each layer's weights, nested models' layers by their path names (as the readers key them). */
function setWeights(model: tf.LayersModel, weights: Map<string, LayerWeights>, file: string): void {
  const leaves = leafLayers(model);
  const names = new Set(leaves.map((l) => l.name));
  for (const [name, w] of weights) {
    if (w.values.length > 0 && !names.has(name)) throw new KerasModelError(file, `the weights hold layer ${name} (${w.where}), which the model config does not have`);
  }
  for (const { name, layer } of leaves) {
    const expected = layer.weights;
    const found = weights.get(name);
    const got = found?.values ?? [];
    const where = found?.where ?? 'the file';
    if (expected.length === 0 && got.length === 0) continue;
    const label = `layer ${name} (${layer.getClassName()})`;
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
      const integer = got[i]!.integer;
      if (integer !== undefined && !INTEGER_WEIGHTS.has(`${layer.getClassName()}/${shortName(v.originalName)}`)) {
        throw new KerasModelError(file, `${label}: weight ${shortName(v.originalName)} is stored as integers (${integer}) in ${where}; only float weights can be read for it`);
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
    try {
      buildOpaqueLayer(l.class_name, camelKeys(l.config) as Record<string, unknown>, String(l.config['name'] ?? ''));
    } catch (e) {
      return { name: l.path, className: l.class_name, message: (e as Error).message };
    }
  }
  return undefined;
}

interface TopologyLayer {
  /** The names of the nested models holding the layer, then its own. */
  parts: string[];
  /** Those joined with '/': the layer's path name. */
  path: string;
  class_name: string;
  config: Record<string, unknown>;
}

/** The normalised config of every layer that is not a model, nested models' layers included. */
function topologyLayers(model: NormalisedModel): TopologyLayer[] {
  const leaves = (config: Record<string, unknown>, prefix: string[]): TopologyLayer[] =>
    (config['layers'] as { class_name: string; config: Record<string, unknown> }[]).flatMap((l) => {
      const parts = [...prefix, String(l.config['name'] ?? '')];
      return isModelClass(l.class_name) ? leaves(l.config, parts) : [{ parts, path: parts.join('/'), class_name: l.class_name, config: l.config }];
    });
  return leaves(model.topology['config'] as Record<string, unknown>, []);
}

/** The tfjs layer at a path (through the nested models it names). */
function layerAt(model: tf.LayersModel, parts: string[]): tf.layers.Layer {
  let at: tf.layers.Layer = model;
  for (const part of parts) at = (at as tf.LayersModel).getLayer(part);
  return at;
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
