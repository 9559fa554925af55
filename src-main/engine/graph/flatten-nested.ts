/**
 * The walk from a tfjs-layers model to the flat list of layers the Graph IR
 * holds, with nested models (a Sequential or functional model used as a layer
 * of another, at any depth) opened up in place.
 *
 * A layer inside a nested model is named by its path: the names of the nested
 * models that hold it and its own, joined with '/', e.g.
 * `sequential_53/model14/block_1_expand` (the outermost model's own name is no
 * prefix, so a layer at top level keeps its plain name). A nested model's
 * InputLayer disappears: its consumers read the tensor that fed the nested
 * model. The model's own input keeps its plain name.
 *
 * Each model is walked from its output back to its input through the symbolic
 * tensors (so layers reused across models or unused branches do not confuse
 * it). A nested model is met in two ways: called as a layer (its call is one
 * node of the outer graph; the walk goes inside), or, when it is the first
 * layer of a tfjs Sequential, adopted (the Sequential's graph runs through the
 * nested model's own layers, which the walk meets directly). A layer or nested
 * model called more than once (shared weights) cannot be held by the IR, whose
 * nodes own their weights, and is refused.
 */
import { tf } from '../tfjs.js';

type Layer = tf.layers.Layer;

export interface FlatLayer {
  /** Path name, unique in the flattened model. */
  name: string;
  layer: Layer;
  /** Path names of the layers feeding it, in argument order. */
  inputs: string[];
}

export interface FlatModel {
  /** Topologically ordered; the first is the model's InputLayer. */
  layers: FlatLayer[];
  /** Path name of the layer whose output is the model output. */
  output: string;
}

/** Makes the error for a layer (named by its path) the walk cannot take. */
export type Refuse = (layerName: string, className: string, reason: string) => Error;

/** A Sequential or functional model used as a layer. */
export function isNestedModel(layer: Layer): layer is tf.LayersModel {
  return layer instanceof tf.LayersModel;
}

/** The layers of a single-input single-output model, nested models opened up. */
export function flattenModel(model: tf.LayersModel, refuse: Refuse): FlatModel {
  const paths = new Map(allLayers(model).map(({ name, layer }) => [layer, name]));
  const walk: Walk = { layers: [], seen: new Set(), refuse, nameOf: (layer) => paths.get(layer) ?? layer.name };
  const output = flattenInto(model, undefined, walk);
  const names = new Set<string>();
  for (const { name, layer } of walk.layers) {
    if (names.has(name)) throw refuse(name, layer.getClassName(), 'another layer of the model has the same path name');
    names.add(name);
  }
  return { layers: walk.layers, output };
}

/** Every layer of the model that is not itself a model, reachable or not, nested ones included, with its path name. */
export function leafLayers(model: tf.LayersModel): { name: string; layer: Layer }[] {
  return allLayers(model).filter(({ layer }) => !isNestedModel(layer));
}

/** Every layer in model.layers, each nested model followed by its own layers, with path names (a layer in two models: the first path). */
function allLayers(model: tf.LayersModel, prefix = '', seen = new Set<Layer>()): { name: string; layer: Layer }[] {
  return model.layers.flatMap((layer) => {
    if (seen.has(layer)) return [];
    seen.add(layer);
    const here = { name: prefix + layer.name, layer };
    return isNestedModel(layer) ? [here, ...allLayers(layer, `${here.name}/`, seen)] : [here];
  });
}

interface Walk {
  layers: FlatLayer[];
  /** Every layer object met so far, nested models included, to find one used twice. */
  seen: Set<Layer>;
  refuse: Refuse;
  /** Path name of a layer held by the model or a model nested in it. */
  nameOf: (layer: Layer) => string;
}

/** The tensor that feeds a nested model, as its parent computes it. */
interface Feed {
  /** Path name of the layer producing it. */
  name: string;
  shape: tf.Shape;
}

/**
 * Appends the layers of `model` to the walk and returns the path name of the
 * layer giving its output. `feed` is undefined for the outermost model, whose
 * InputLayer stays.
 */
function flattenInto(model: tf.LayersModel, feed: Feed | undefined, walk: Walk): string {
  const refuseAt = (layer: Layer, reason: string) => walk.refuse(walk.nameOf(layer), layer.getClassName(), reason);
  // Path name of the layer whose output each layer reads as its own (keyed by object: plain names repeat across levels).
  const producer = new Map<Layer, string>();
  for (const { layer, inputs } of orderLayers(model, reachableLayers(model, refuseAt))) {
    if (walk.seen.has(layer)) refuseCalledTwice(layer, refuseAt);
    walk.seen.add(layer);
    // The model's own input keeps its plain name, even when a nested model's InputLayer serves as it (adopted).
    const name = layer.getClassName() === 'InputLayer' ? layer.name : walk.nameOf(layer);
    const inputNames = inputs.map((i) => producer.get(i.sourceLayer)!);
    if (feed && layer.getClassName() === 'InputLayer') {
      checkFeedShape(model, walk.nameOf(model), layer, feed, walk.refuse);
      producer.set(layer, feed.name);
    } else if (isNestedModel(layer)) {
      if (layer.inputs.length !== 1 || layer.outputs.length !== 1) {
        throw refuseAt(layer, `the nested model has ${layer.inputs.length} inputs and ${layer.outputs.length} outputs; only single-input single-output nested models are supported`);
      }
      producer.set(layer, flattenInto(layer, { name: inputNames[0]!, shape: inputs[0]!.shape }, walk));
    } else {
      walk.layers.push({ name, layer, inputs: inputNames });
      producer.set(layer, name);
    }
  }
  return producer.get(model.outputs[0]!.sourceLayer)!;
}

function refuseCalledTwice(layer: Layer, refuseAt: (layer: Layer, reason: string) => Error): never {
  throw refuseAt(
    layer,
    isNestedModel(layer)
      ? 'the nested model is called more than once (shared models are not supported)'
      : 'the layer is called more than once (shared layers are not supported)',
  );
}

/** tfjs does not check a nested model's input shape against the tensor it is called on: the IR needs them equal. */
function checkFeedShape(model: tf.LayersModel, modelPath: string, inputLayer: Layer, feed: Feed, refuse: Refuse): void {
  const expected = (inputLayer.batchInputShape ?? inputLayer.outputShape) as tf.Shape;
  const got = feed.shape;
  // An unknown (null) dimension of the nested input takes any size, as in Keras.
  const fits = expected.length === got.length && expected.every((d, i) => i === 0 || d == null || d === got[i]);
  if (fits) return;
  const shown = (s: tf.Shape) => `[${s.slice(1).map((d) => d ?? '?').join(',')}]`;
  throw refuse(
    modelPath,
    model.getClassName(),
    `it expects an input of shape ${shown(expected)} (its input layer ${inputLayer.name}) but is called on the output of layer ${feed.name}, of shape ${shown(got)}`,
  );
}

interface Reached {
  layer: Layer;
  /** The tensors it is called on (none for an InputLayer). */
  inputs: tf.SymbolicTensor[];
}

/** Layers of one model on the path from its input to its output, with the tensors they are called on. */
function reachableLayers(model: tf.LayersModel, refuseAt: (layer: Layer, reason: string) => Error): Map<Layer, Reached> {
  const seen = new Map<Layer, Reached & { nodeIndex: number }>();
  const stack: tf.SymbolicTensor[] = [model.outputs[0]!];
  while (stack.length > 0) {
    const t = stack.pop()!;
    const layer = t.sourceLayer;
    const prior = seen.get(layer);
    if (prior) {
      if (prior.nodeIndex !== t.nodeIndex) refuseCalledTwice(layer, refuseAt);
      continue;
    }
    if (t.tensorIndex !== 0) throw refuseAt(layer, 'layers with several outputs are not supported');
    const node = layer.inboundNodes[t.nodeIndex]!;
    const inputs = layer.getClassName() === 'InputLayer' ? [] : node.inputTensors;
    seen.set(layer, { layer, inputs, nodeIndex: t.nodeIndex });
    stack.push(...inputs);
  }
  return seen;
}

/**
 * Order as model.layers with nested models' layers after them (Keras's
 * summary order, topological since tfjs sorts by depth), the model's
 * InputLayer first. Falls back to a depth-first order if that listing is not
 * topological.
 */
function orderLayers(model: tf.LayersModel, reached: Map<Layer, Reached>): Reached[] {
  const input = model.inputs[0]!.sourceLayer;
  const listed = [input, ...allLayers(model).map((l) => l.layer).filter((l) => l !== input)];
  const ordered = listed.flatMap((l) => reached.get(l) ?? []);
  if (ordered.length === reached.size && isTopological(ordered)) return ordered;
  return depthFirstOrder(reached, model.outputs[0]!.sourceLayer);
}

function isTopological(ordered: Reached[]): boolean {
  const done = new Set<Layer>();
  for (const r of ordered) {
    if (!r.inputs.every((i) => done.has(i.sourceLayer))) return false;
    done.add(r.layer);
  }
  return true;
}

function depthFirstOrder(reached: Map<Layer, Reached>, output: Layer): Reached[] {
  const out: Reached[] = [];
  const done = new Set<Layer>();
  const visit = (layer: Layer): void => {
    if (done.has(layer)) return;
    done.add(layer);
    const r = reached.get(layer)!;
    r.inputs.forEach((i) => visit(i.sourceLayer));
    out.push(r);
  };
  visit(output);
  return out;
}
