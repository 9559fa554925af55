/**
 * Nested tfjs models (nested-fixtures.ts) and the keras.applications models
 * (test/helpers/applications) written as Keras would write them, for the
 * readers' tests: a Keras 2 .h5 (model_config + model_weights, a nested
 * model's weights all in its top-level group, trainable ones first, as Keras
 * 2's save_weights_to_hdf5_group lists them) and a Keras 3 .keras
 * (config.json in Keras 3's form, weights under layers/<class key>/layers/…
 * as saving_lib's _save_state walks nested models). The tfjs model is the
 * reference: its config and its weights are what gets written.
 *
 * Each layer's config is the one Keras writes for it (keras2LeafConfig,
 * keras3LeafConfig), not tfjs's: ReLU with negative_slope and threshold,
 * Keras 3's activation names (silu, hard_silu, hard_sigmoid = relu6(x + 3) / 6),
 * BatchNormalization's axis as a list (Keras 2) and synchronized (Keras 3),
 * Conv2D's groups, Keras 3's build_config, Normalization's count as int64.
 * Keras 2 has no name for Keras 3's hard_sigmoid nor hard_swish (its
 * MobileNetV3 builds them from TFOpLambda layers): Keras 2 files keep tfjs's
 * names for them ('keras3_hard_sigmoid', 'hard_swish').
 */
import * as tf from '@tensorflow/tfjs';
import h5wasm from 'h5wasm/node';
import { datasetOf, keras3Layer, writeKeras3Archive, type Array32, type VarsGroup } from './keras-fixtures.js';

type Json = Record<string, unknown>;
type Layer = tf.layers.Layer;
const isModel = (l: Layer): l is tf.LayersModel => l instanceof tf.LayersModel;

/** The leaves (non-model layers) of a model with their paths inside it, e.g. ["model1", "Conv1"]. */
function leaves(model: tf.LayersModel, prefix: string[] = []): { path: string[]; layer: Layer }[] {
  return model.layers.flatMap((l) => (isModel(l) ? leaves(l, [...prefix, l.name]) : [{ path: [...prefix, l.name], layer: l }]));
}

/** Keras 3's names of the activations tfjs writes under other names. */
const KERAS3_ACTIVATIONS: Record<string, string> = { keras3_hard_sigmoid: 'hard_sigmoid', hard_swish: 'hard_silu', swish: 'silu' };

/** What Keras 2 (tf.keras 2.15) writes for a layer whose tfjs (pythonic) config is `config`. */
export function keras2LeafConfig(className: string, config: Json): Json {
  const out: Json = { ...config };
  if (className === 'ReLU') Object.assign(out, { max_value: config['max_value'] ?? null, negative_slope: 0.0, threshold: 0.0 });
  if (className === 'BatchNormalization' && typeof config['axis'] === 'number') out['axis'] = [config['axis']];
  if (className === 'Conv2D') out['groups'] = 1;
  return out;
}

/** What Keras 3 writes for a layer whose tfjs (pythonic) config is `config` (dtype and batch_input_shape left to the caller). */
export function keras3LeafConfig(className: string, config: Json): Json {
  const out: Json = { ...config };
  if (typeof out['activation'] === 'string') out['activation'] = KERAS3_ACTIVATIONS[out['activation']] ?? out['activation'];
  if (className === 'ReLU') Object.assign(out, { max_value: config['max_value'] ?? null, negative_slope: 0.0, threshold: 0.0 });
  if (className === 'BatchNormalization') out['synchronized'] = false;
  if (className === 'Conv2D') out['groups'] = 1;
  if (className === 'Dense') Object.assign(out, { lora_rank: null, quantization_config: null });
  return out;
}

/** The model's layers' configs, nested models' too, through `leaf` (in place on a copy of tfjs's JSON). */
function mapLeaves(json: Json, leaf: (className: string, config: Json) => Json): Json {
  const layers = (json['config'] as Json)['layers'] as Json[];
  (json['config'] as Json)['layers'] = layers.map((l) => {
    const className = String(l['class_name']);
    if (isModelClass(className)) return mapLeaves(l, leaf);
    return className === 'InputLayer' ? l : { ...l, config: leaf(className, l['config'] as Json) };
  });
  return json;
}

const isModelClass = (c: string) => c === 'Sequential' || c === 'Model' || c === 'Functional';

/**
 * The model_config Keras 2 writes: tfjs's own JSON, its functional models
 * renamed Functional as Keras ≥ 2.4 names them, each layer's config as Keras 2 writes it.
 */
export function keras2Config(model: tf.LayersModel): Json {
  const rename = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(rename);
    if (typeof v !== 'object' || v === null) return v;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === 'class_name' && x === 'Model' ? 'Functional' : rename(x)]));
  };
  return mapLeaves(rename(model.toJSON(null, false)) as Json, keras2LeafConfig);
}

/** Keras keeps Normalization's count as int64. */
function kerasWeight(layer: Layer, variableName: string, t: tf.Tensor): Array32 {
  const values = Float32Array.from(t.dataSync());
  const int64 = layer.getClassName() === 'Normalization' && variableName.endsWith('count');
  return { shape: [...t.shape], values, ...(int64 ? { int64 } : {}) };
}

export interface WriteOptions {
  /**
   * Rewrites the model config before it is written (config.json, model_config),
   * e.g. to put layers Keras writes where the tfjs model has others (the
   * operations of Keras's own MobileNetV3). Layers it adds must hold no weights.
   */
  transform?: (config: Json) => Json;
  /** The keras_version attribute of a .h5 (default 2.15.0; Keras 3 writes .h5 files too). */
  kerasVersion?: string;
}

/**
 * Writes a Keras 2 .h5 of the model. A nested model's weight names are
 * "<layer>/<weight>:0" (`names: 'own'`) or carry the nested models' path too
 * ("sequential_1/model1/Conv1/kernel:0", `names: 'path'`).
 */
export async function writeKeras2H5(file: string, model: tf.LayersModel, names: 'own' | 'path', options: WriteOptions = {}): Promise<void> {
  await h5wasm.ready;
  const f = new h5wasm.File(file, 'w');
  try {
    const config = (options.transform ?? ((c: Json) => c))(keras2Config(model));
    f.create_attribute('model_config', JSON.stringify(config));
    f.create_attribute('keras_version', options.kerasVersion ?? '2.15.0');
    f.create_attribute('backend', 'tensorflow');
    const mw = f.create_group('model_weights');
    // Keras 2 lists every layer of the model, weightless ones too (TFOpLambda…), each with its group.
    const layerNames = ((config['config'] as Json)['layers'] as Json[]).map((l) => String(l['name'] ?? (l['config'] as Json)['name']));
    mw.create_attribute('layer_names', layerNames);
    const own = new Set(model.layers.map((l) => l.name));
    for (const name of layerNames.filter((n) => !own.has(n))) mw.create_group(name).create_attribute('weight_names', []);
    for (const layer of model.layers) {
      const group = mw.create_group(layer.name);
      // Keras 2's _legacy_weights: all trainable weights of the layer (a nested model: of all its layers), then the others.
      const variables = [...layer.trainableWeights, ...layer.nonTrainableWeights];
      const pathOf = new Map<unknown, string[]>(isModel(layer) ? leaves(layer).flatMap(({ path, layer: leaf }) => leaf.weights.map((v) => [v, path] as const)) : []);
      const weightNames = variables.map((v) => {
        const key = v.originalName.slice(v.originalName.lastIndexOf('/') + 1);
        const path = pathOf.get(v) ?? [layer.name];
        return `${names === 'path' && isModel(layer) ? [layer.name, ...path].join('/') : path.at(-1)}/${key}:0`;
      });
      group.create_attribute('weight_names', weightNames);
      const values = layer.getWeights(false);
      const byVariable = new Map(layer.weights.map((v, i) => [v, values[i]!]));
      variables.forEach((v, i) => {
        const parts = weightNames[i]!.split('/');
        let at = group;
        for (const part of parts.slice(0, -1)) at = (at.keys().includes(part) ? at.get(part) : at.create_group(part)) as typeof group;
        const owner = isModel(layer) ? leafOf(layer, v) : layer;
        at.create_dataset(datasetOf(parts.at(-1)!, kerasWeight(owner, v.originalName, byVariable.get(v)!)));
      });
    }
  } finally {
    f.close();
  }
}

/** The leaf layer of a nested model that holds variable `v`. */
function leafOf(model: tf.LayersModel, v: unknown): Layer {
  return leaves(model).find(({ layer }) => layer.weights.includes(v as never))!.layer;
}

/** How a tfjs tensor reference [layer, call, tensor] of `owner`'s config is written by Keras 3. */
function keras3Tensor(ref: unknown[], owner: tf.LayersModel): Json {
  const [layer, call, index] = ref as [string, number, number];
  const source = owner.getLayer(layer);
  // tfjs counts a nested model's construction as call 0; Keras 3 does for a Functional only.
  const kerasCall = isModel(source) && source.getClassName() === 'Sequential' ? call - 1 : call;
  const shape = source.inboundNodes[call]!.outputTensors[index]!.shape;
  return { class_name: '__keras_tensor__', config: { shape, dtype: 'float32', keras_history: [layer, kerasCall, index] } };
}

/** A Keras 3 config.json of the model (a Sequential gets the InputLayer Keras 3 always gives it). */
export function keras3Config(model: tf.LayersModel): Json {
  const json = model.toJSON(null, false) as unknown as { class_name: string; config: Json };
  return keras3Model(json.class_name, json.config, model);
}

function keras3Model(className: string, config: Json, model: tf.LayersModel): Json {
  const sequential = className === 'Sequential';
  const raw = config['layers'] as { class_name: string; config: Json; inbound_nodes?: unknown[][][] }[];
  const layers = raw.map((l) => {
    const name = String(l.config['name']);
    const layer = model.getLayer(name);
    const entry = isModel(layer) ? keras3Model(l.class_name, l.config, layer as tf.LayersModel) : { ...keras3Leaf(l.class_name, l.config), ...buildConfig(layer) };
    if (sequential) return entry;
    const calls = (l.inbound_nodes ?? []).map((refs) => ({ args: refs.length === 1 ? [keras3Tensor(refs[0]!, model)] : [refs.map((r) => keras3Tensor(r, model))], kwargs: {} }));
    return { ...entry, name, inbound_nodes: calls };
  });
  const out: Json = { name: config['name'], trainable: true, layers };
  if (sequential) {
    const shape = model.inputs[0]!.shape;
    layers.unshift(keras3Layer('InputLayer', { batch_shape: shape, dtype: 'float32', sparse: false, name: `${String(config['name'])}_input` }));
    out['build_input_shape'] = shape;
  } else {
    // Keras 3 writes a single input or output unnested.
    for (const key of ['input_layers', 'output_layers']) {
      const refs = config[key] as unknown[][];
      out[key] = refs.length === 1 ? keras3Ref(refs[0]!, model) : refs.map((r) => keras3Ref(r, model));
    }
  }
  const keras3Class = sequential ? 'Sequential' : 'Functional';
  return { module: sequential ? 'keras' : 'keras.src.models.functional', class_name: keras3Class, config: out, registered_name: keras3Class === 'Functional' ? 'Functional' : null, build_config: { input_shape: model.inputs[0]!.shape } };
}

function keras3Ref(ref: unknown[], owner: tf.LayersModel): unknown[] {
  return (keras3Tensor(ref, owner)['config'] as { keras_history: unknown[] }).keras_history;
}

function keras3Leaf(className: string, config: Json): Json {
  if (className === 'InputLayer') {
    const { batch_input_shape: shape, ...rest } = config;
    return keras3Layer('InputLayer', { ...rest, batch_shape: shape });
  }
  const { batch_input_shape: _dropped, dtype: _dtype, ...rest } = config;
  return keras3Layer(className, keras3LeafConfig(className, rest));
}

/** Keras 3's build_config of a built layer: the shape(s) of its first call's input. */
function buildConfig(layer: Layer): Json {
  if (layer.getClassName() === 'InputLayer' || layer.inboundNodes.length === 0) return {};
  const shapes = layer.inboundNodes[0]!.inputTensors.map((t) => t.shape);
  return { build_config: { input_shape: shapes.length === 1 ? shapes[0] : shapes } };
}

/** snake_case keys of the classes in these models, as Keras's naming.to_snake_case writes them. */
const KERAS3_KEYS: Record<string, string> = {
  InputLayer: 'input_layer',
  Sequential: 'sequential',
  Functional: 'functional',
  Conv2D: 'conv2d',
  DepthwiseConv2D: 'depthwise_conv2d',
  SeparableConv2D: 'separable_conv2d',
  BatchNormalization: 'batch_normalization',
  ReLU: 're_lu',
  LeakyReLU: 'leaky_re_lu',
  Softmax: 'softmax',
  Add: 'add',
  Multiply: 'multiply',
  Concatenate: 'concatenate',
  GlobalAveragePooling2D: 'global_average_pooling2d',
  GlobalMaxPooling2D: 'global_max_pooling2d',
  MaxPooling2D: 'max_pooling2d',
  AveragePooling2D: 'average_pooling2d',
  ZeroPadding2D: 'zero_padding2d',
  Cropping2D: 'cropping2d',
  UpSampling2D: 'up_sampling2d',
  Rescaling: 'rescaling',
  Normalization: 'normalization',
  Dropout: 'dropout',
  Reshape: 'reshape',
  Flatten: 'flatten',
  Dense: 'dense',
  Activation: 'activation',
};

/**
 * model.weights.h5 groups of a Keras 3 config: each model's layers under
 * <container>/<class key, numbered per class>, a nested model's own layers
 * under <its group>/layers. `named`: with the layer name attribute on vars.
 */
export function keras3VarsGroups(config: Json, model: tf.LayersModel, named: boolean, container = 'layers'): VarsGroup[] {
  const used = new Map<string, number>();
  return ((config['config'] as Json)['layers'] as Json[]).flatMap((entry) => {
    const className = String(entry['class_name']);
    const base = KERAS3_KEYS[className];
    if (!base) throw new Error(`no Keras 3 key for ${className}`);
    const n = used.has(base) ? used.get(base)! + 1 : 0;
    used.set(base, n);
    const key = `${container}/${n === 0 ? base : `${base}_${n}`}`;
    const name = String((entry['config'] as Json)['name']);
    if (className === 'InputLayer') return named ? [{ key, layerName: name, vars: [] }] : [];
    const layer = model.getLayer(name);
    if (isModel(layer)) return [...(named ? [{ key, layerName: name, vars: [] }] : []), ...keras3VarsGroups(entry, layer, named, `${key}/layers`)];
    const values = layer.getWeights();
    const vars = layer.weights.map((v, i) => kerasWeight(layer, v.originalName, values[i]!));
    return vars.length > 0 || named ? [{ key, ...(named ? { layerName: name } : {}), vars }] : [];
  });
}

export async function writeKeras3(file: string, model: tf.LayersModel, named: boolean, options: WriteOptions = {}): Promise<void> {
  const config = keras3Config(model);
  // The weights follow the model's own layers: what a transform adds holds none.
  const groups = keras3VarsGroups(config, model, named);
  await writeKeras3Archive(file, options.transform ? options.transform(config) : config, groups);
}
