/**
 * Keras model configs (Keras 2's `model_config` attribute in .h5 files, Keras
 * 3's config.json in .keras archives) turned into the Keras 2 form that
 * tfjs-layers deserialises (tf.loadLayersModel takes tf.keras JSON as is).
 *
 * Keras 3 differs in: `module` / `registered_name` / `build_config` beside
 * every class_name, dtype policies as objects, InputLayer's `batch_shape`,
 * inbound nodes as {args, kwargs} with `__keras_tensor__` entries, and
 * `input_layers` / `output_layers` unnested for a single input or output.
 * Keras 2.4+ also writes things tfjs does not read: a BatchNormalization axis
 * as a list, regularizers named L1 / L2. A nested model (Sequential or
 * functional model used as a layer) is normalised the same way, in place.
 *
 * Activation names: Keras 3's 'hard_sigmoid' is relu6(x + 3) / 6, Keras 2's
 * (and tfjs's) clip(0.2·x + 0.5, 0, 1); every `activation` of a Keras 3 file
 * goes through kerasActivationForTfjs, which names the Keras 3 one apart.
 * Which Keras wrote the file comes from its keras_version (KerasSource).
 */
import { kerasActivationForTfjs } from '../../../engine/graph/tfjs-compat/index.js';
import { KerasModelError } from './errors.js';
import { isKeras3Operation, operationAsRescaling } from './operations.js';
import { renameKeras3Options } from './options.js';

type Json = Record<string, unknown>;

export interface KerasLayerInfo {
  name: string;
  className: string;
  /** Keras 3's module of the class (keras.layers, qkeras.qlayers…), when saved. */
  module?: string;
  /** A nested model's own layers, in config order. */
  layers?: KerasLayerInfo[];
  /** A Keras 3 operation (x + 3.0…) read as a Rescaling: no layer of Keras's, so no weights group either. */
  operation?: boolean;
}

export interface NormalisedModel {
  /** Keras 2 form: {class_name, config}; give it to tf.loadLayersModel as modelTopology. */
  topology: Json;
  modelName: string;
  /** The model's layers in config order (a nested model's inside it). */
  layers: KerasLayerInfo[];
}

const MODEL_CLASSES = new Set(['Sequential', 'Functional', 'Model']);

/** Whether a config's class_name is a model (a nested one, when a layer has it). */
export const isModelClass = (className: string): boolean => MODEL_CLASSES.has(className);
const POLICY_CLASSES = new Set(['DTypePolicy', 'FloatDTypePolicy', 'Policy']);
/** Keys Keras 3 adds beside class_name that tfjs does not know. */
const KERAS3_EXTRA_KEYS = new Set(['module', 'registered_name', 'build_config', 'compile_config', 'shared_object_id']);

/** What the reader knows of the Keras that wrote the config. */
export interface KerasSource {
  /** Keras 3 (its activation names): a .keras archive of Keras 3, or an .h5 whose keras_version is 3.x. */
  keras3: boolean;
}

/**
 * Whether a keras_version (the .h5 attribute, metadata.json's field) is Keras 3;
 * `fallback` when the file does not say.
 */
export function isKeras3Version(version: unknown, fallback: boolean): boolean {
  if (typeof version !== 'string' || !/^\d/.test(version)) return fallback;
  return Number.parseInt(version, 10) >= 3;
}

export function normaliseModelConfig(raw: unknown, file: string, source: KerasSource = { keras3: false }): NormalisedModel {
  const fail = (problem: string) => new KerasModelError(file, problem);
  if (!isObject(raw) || typeof raw['class_name'] !== 'string' || !isObject(raw['config'])) {
    throw fail('model config has no class_name and config; it is not a Keras model config');
  }
  const className = raw['class_name'];
  const config = raw['config'];
  if (!MODEL_CLASSES.has(className)) {
    const registered = typeof raw['registered_name'] === 'string' ? ` (${raw['registered_name']})` : '';
    throw fail(`the saved model is a ${className}${registered}, not a Sequential or functional model; subclassed models cannot be rebuilt without their Python code`);
  }
  return normaliseModel(className, config, '', fail, source);
}

/**
 * One model's config, nested models (a Sequential or functional model used as
 * a layer) normalised the same way, recursively; `prefix` is the path of a
 * nested model ('' at top level, else e.g. "sequential_1/"), for messages.
 */
function normaliseModel(className: string, config: Json, prefix: string, fail: (problem: string) => Error, source: KerasSource): NormalisedModel {
  const rawLayers = config['layers'];
  if (!Array.isArray(rawLayers)) throw fail(`model config of ${prefix ? `nested model ${prefix.slice(0, -1)} (${className})` : className} has no layers list`);
  const layers: KerasLayerInfo[] = [];
  rawLayers.forEach((l, i) => {
    if (!isObject(l) || typeof l['class_name'] !== 'string' || !isObject(l['config'])) throw fail(`layer ${i} of the model config${prefix ? ` of ${prefix.slice(0, -1)}` : ''} has no class_name and config`);
  });
  const shifted = sequentialsCalledFromZero(rawLayers as Json[]);
  const normLayers = (rawLayers as Json[]).map((raw, i) => {
    const rawName = typeof raw['name'] === 'string' ? raw['name'] : String((raw['config'] as Json)['name'] ?? `#${i}`);
    // Arithmetic with a constant (Keras 3 operations, Keras 2 TFOpLambda) is read as the Rescaling it computes.
    const operation = operationAsRescaling(raw, `${prefix}${rawName}`, fail);
    const l = operation?.entry ?? raw;
    const layerClass = l['class_name'] as string;
    const layerConfig = l['config'] as Json;
    const name = typeof l['name'] === 'string' ? l['name'] : String(layerConfig['name'] ?? `#${i}`);
    const module = typeof l['module'] === 'string' ? { module: l['module'] } : {};
    let out: Json;
    if (MODEL_CLASSES.has(layerClass)) {
      const nested = normaliseModel(layerClass, layerConfig, `${prefix}${name}/`, fail, source);
      layers.push({ name, className: layerClass, ...module, layers: nested.layers });
      out = { ...nested.topology };
    } else {
      const policy = isObject(layerConfig['dtype']) ? layerConfig['dtype']['class_name'] : undefined;
      if (typeof policy === 'string' && policy.startsWith('Quantized')) {
        throw fail(`layer ${prefix}${name} (${layerClass}) was quantized by Keras (${policy}); import the float model and quantize it in the studio`);
      }
      layers.push({ name, className: layerClass, ...module, ...(operation && isKeras3Operation(raw) ? { operation: true } : {}) });
      out = { class_name: layerClass, config: normaliseLayerConfig(layerClass, layerConfig, source) };
    }
    if ('name' in l) out['name'] = l['name'];
    if ('inbound_nodes' in l) out['inbound_nodes'] = (normaliseInboundNodes(l['inbound_nodes'], prefix + name, fail) as unknown[][]).map((refs) => shiftCalls(refs, shifted));
    return out;
  });
  const normConfig: Json = { ...(normaliseValue(withoutKeys(config, ['layers'])) as Json), layers: normLayers };
  if (className === 'Sequential') giveSequentialAnInputShape(normConfig);
  for (const key of ['input_layers', 'output_layers']) {
    if (key in normConfig) normConfig[key] = shiftCalls(nestTensorRefs(normConfig[key]), shifted);
  }
  if (className !== 'Sequential') checkCallRefs(normLayers, normConfig['output_layers'], prefix ? `nested model ${prefix.slice(0, -1)}` : 'the model', fail);
  // tfjs names the Keras 2 functional class Model.
  const topologyClass = className === 'Functional' ? 'Model' : className;
  const modelName = typeof config['name'] === 'string' ? config['name'] : 'model';
  return { topology: { class_name: topologyClass, config: normConfig }, modelName, layers };
}

/**
 * A tensor reference is [layer, call index, tensor index]. tfjs counts a nested
 * model's own construction as its call 0, so its first call in the outer model
 * is call 1. Keras 2 writes it so for a model built with an input shape (it
 * skips that built-in call), Keras 3 for a Functional; but Keras 3 writes a
 * nested Sequential's first call as 0 (it gives a Sequential no built-in
 * call), and so does Keras 2 for a Sequential built without an input shape.
 * Returns the nested Sequentials whose calls are written counting from 0.
 */
function sequentialsCalledFromZero(rawLayers: Json[]): Set<string> {
  const keras3 = rawLayers.some((l) => Array.isArray(l['inbound_nodes']) && l['inbound_nodes'].some(isObject));
  const out = new Set<string>();
  for (const l of rawLayers) {
    if (l['class_name'] !== 'Sequential') continue;
    const inner = (l['config'] as Json)['layers'];
    const first = Array.isArray(inner) && isObject(inner[0]) ? inner[0] : undefined;
    const firstConfig = first && isObject(first['config']) ? first['config'] : {};
    const builtWithInputShape = first?.['class_name'] === 'InputLayer' || firstConfig['batch_input_shape'] != null || firstConfig['input_shape'] != null;
    if (keras3 || !builtWithInputShape) out.add(String(l['name'] ?? (l['config'] as Json)['name']));
  }
  return out;
}

/**
 * tfjs waits forever for a call that never comes when a reference names a
 * call the layer does not have: refuse such a config here instead. A layer has
 * as many calls as inbound nodes; a nested model one more (its construction),
 * an InputLayer one.
 */
function checkCallRefs(layers: Json[], modelRefs: unknown, model: string, fail: (problem: string) => Error): void {
  const calls = new Map(
    layers.map((l) => {
      const own = Array.isArray(l['inbound_nodes']) ? l['inbound_nodes'].length : 0;
      const className = String(l['class_name']);
      return [String(l['name'] ?? (l['config'] as Json)['name']), className === 'InputLayer' ? 1 : own + (isModelClass(className) ? 1 : 0)];
    }),
  );
  const check = (ref: unknown, by: string) => {
    if (!Array.isArray(ref) || typeof ref[0] !== 'string') return;
    const [source, call] = ref as [string, unknown];
    const has = calls.get(source);
    if (has === undefined) throw fail(`${by} reads layer ${source}, which ${model} does not have`);
    if (typeof call !== 'number' || call < 0 || call >= has) throw fail(`${by} reads call ${String(call)} of layer ${source}, which is called ${has} time${has === 1 ? '' : 's'} (counting a nested model's construction as call 0)`);
  };
  for (const l of layers) for (const node of (l['inbound_nodes'] as unknown[][] | undefined) ?? []) for (const ref of node) check(ref, `layer ${String(l['name'] ?? (l['config'] as Json)['name'])}`);
  for (const ref of Array.isArray(modelRefs) ? modelRefs : []) check(ref, `the output of ${model}`);
}

/**
 * checkCallRefs over a whole topology in tfjs's form (a TF.js model.json's
 * modelTopology, or a normalised Keras config): every functional model, nested
 * ones included, its layers' inbound nodes and its output_layers. tfjs's
 * loadLayersModel loops forever on a reference to a call that does not exist.
 */
export function checkTopologyCallRefs(topology: unknown, fail: (problem: string) => Error): void {
  const walk = (model: unknown, path: string): void => {
    if (!isObject(model) || typeof model['class_name'] !== 'string' || !isObject(model['config'])) return;
    const className = model['class_name'];
    const config = model['config'];
    const layers = config['layers'];
    if (!isModelClass(className) || !Array.isArray(layers)) return;
    const entries = layers.filter(isObject);
    for (const l of entries) {
      if (isModelClass(String(l['class_name']))) walk(l, `${path}${String(l['name'] ?? (isObject(l['config']) ? l['config']['name'] : ''))}/`);
    }
    if (className !== 'Sequential') checkCallRefs(entries, config['output_layers'], path ? `nested model ${path.slice(0, -1)}` : 'the model', fail);
  };
  // Older converters wrap the model as {model_config, keras_version, backend}.
  walk(isObject(topology) && isObject(topology['model_config']) ? topology['model_config'] : topology, '');
}

/**
 * A topology in tfjs's form (a TF.js model.json's modelTopology, possibly
 * wrapped as {model_config, keras_version, backend} as tensorflowjs's
 * converter writes a tf.keras model) with every operation entry (Keras 2
 * TFOpLambda arithmetic with a constant, as Keras's MobileNetV3 holds them)
 * read as the Rescaling it computes, nested models included: the same
 * operationAsRescaling the Keras readers use. An operation it cannot read
 * throws through `fail`, naming the layer. The topology is returned as is
 * (the same object) when it holds no operation.
 */
export function readTopologyOperations(topology: unknown, fail: (problem: string) => Error): unknown {
  const walk = (model: Json, path: string): Json => {
    const config = model['config'];
    if (!isModelClass(String(model['class_name'])) || !isObject(config) || !Array.isArray(config['layers'])) return model;
    let changed = false;
    const layers = config['layers'].map((l: unknown, i) => {
      if (!isObject(l) || typeof l['class_name'] !== 'string') return l;
      const name = typeof l['name'] === 'string' ? l['name'] : String((isObject(l['config']) ? l['config']['name'] : undefined) ?? `#${i}`);
      const read = isModelClass(l['class_name']) ? walk(l, `${path}${name}/`) : (operationAsRescaling(l, `${path}${name}`, fail)?.entry ?? l);
      if (read !== l) changed = true;
      return read;
    });
    return changed ? { ...model, config: { ...config, layers } } : model;
  };
  if (!isObject(topology)) return topology;
  if (isObject(topology['model_config'])) {
    const model = walk(topology['model_config'], '');
    return model === topology['model_config'] ? topology : { ...topology, model_config: model };
  }
  return walk(topology, '');
}

/** The tensor references with the call index of `shifted` layers counted from 1, as tfjs counts it. */
function shiftCalls(refs: unknown, shifted: Set<string>): unknown {
  if (shifted.size === 0 || !Array.isArray(refs)) return refs;
  return refs.map((r) => (Array.isArray(r) && shifted.has(r[0] as string) && typeof r[1] === 'number' ? [r[0], r[1] + 1, ...r.slice(2)] : r));
}

/** Every layer that is not a model, nested ones included, with its path (the names of the nested models holding it and its own) and path name (those joined with '/'). */
export function leafLayerInfos(layers: KerasLayerInfo[], prefix: string[] = []): (KerasLayerInfo & { parts: string[]; path: string })[] {
  return layers.flatMap((l) => {
    const parts = [...prefix, l.name];
    return l.layers ? leafLayerInfos(l.layers, parts) : [{ ...l, parts, path: parts.join('/') }];
  });
}

/**
 * A Sequential model built by calling it (no Input) saves no InputLayer; its
 * input shape is only in build_input_shape. tfjs needs it on the first layer.
 */
function giveSequentialAnInputShape(config: Json): void {
  const first = (config['layers'] as Json[])[0];
  const shape = config['build_input_shape'];
  if (!first || first['class_name'] === 'InputLayer' || !Array.isArray(shape)) return;
  const firstConfig = first['config'] as Json;
  if (firstConfig['batch_input_shape'] == null && firstConfig['input_shape'] == null) firstConfig['batch_input_shape'] = shape;
}

/** Config keys naming an activation function. */
const ACTIVATION_KEYS = ['activation', 'recurrent_activation'];

function normaliseLayerConfig(className: string, config: Json, source: KerasSource): Json {
  const out = normaliseValue(config) as Json;
  for (const key of ACTIVATION_KEYS) if (key in out) out[key] = kerasActivationForTfjs(out[key], source.keras3);
  if (className === 'InputLayer') {
    if ('batch_shape' in out && !('batch_input_shape' in out)) out['batch_input_shape'] = out['batch_shape'];
    delete out['batch_shape'];
    delete out['optional'];
  }
  if (className === 'BatchNormalization' && Array.isArray(out['axis']) && out['axis'].length === 1) out['axis'] = out['axis'][0];
  renameKeras3Options(className, out);
  return out;
}

/** Strips Keras 3 serialisation extras everywhere, turns dtype policies into dtype names and L1/L2 into L1L2. */
function normaliseValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normaliseValue);
  if (!isObject(value)) return value;
  const className = value['class_name'];
  if (typeof className === 'string' && isObject(value['config'])) {
    const config = value['config'];
    // Variables are float32 in tfjs whatever the policy (mixed_float16 computes in float16 in Keras).
    if (POLICY_CLASSES.has(className)) return 'float32';
    if (className === 'L1' || className === 'L2') {
      const key = className.toLowerCase();
      return { class_name: 'L1L2', config: { l1: 0, l2: 0, [key]: config[key] ?? 0.01 } };
    }
  }
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof className === 'string' && KERAS3_EXTRA_KEYS.has(k)) continue;
    out[k] = normaliseValue(v);
  }
  return out;
}

/**
 * Keras 3 writes each call of a layer as {args: [...], kwargs: {...}}, every
 * tensor as {class_name: '__keras_tensor__', config: {keras_history: [layer, node, index]}};
 * Keras 2 as a list of [layer, node, index, kwargs].
 */
function normaliseInboundNodes(nodes: unknown, layer: string, fail: (p: string) => Error): unknown {
  if (!Array.isArray(nodes)) throw fail(`layer ${layer} has inbound_nodes that are not a list`);
  return nodes.map((node) => {
    if (Array.isArray(node)) return node; // Keras 2
    if (!isObject(node) || !Array.isArray(node['args'])) throw fail(`layer ${layer} has an inbound node of a form the studio does not know`);
    const refs: unknown[] = [];
    const collect = (arg: unknown): void => {
      if (Array.isArray(arg)) {
        arg.forEach(collect);
        return;
      }
      if (isObject(arg) && arg['class_name'] === '__keras_tensor__') {
        const history = isObject(arg['config']) ? arg['config']['keras_history'] : undefined;
        if (!Array.isArray(history) || history.length < 3) throw fail(`layer ${layer} has an input tensor without keras_history`);
        refs.push([history[0], history[1], history[2], {}]);
      }
      // Plain values among the args (constants) are not tensors: tfjs takes none.
    };
    node['args'].forEach(collect);
    if (refs.length === 0) throw fail(`layer ${layer} is called on no tensor the studio can follow`);
    return refs;
  });
}

/** ["input", 0, 0] (Keras 3, one tensor) → [["input", 0, 0]]. */
function nestTensorRefs(value: unknown): unknown {
  if (Array.isArray(value) && typeof value[0] === 'string') return [value];
  return value;
}

function withoutKeys(obj: Json, keys: string[]): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(obj)) if (!keys.includes(k)) out[k] = v;
  return out;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
