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
 * as a list, regularizers named L1 / L2.
 */
import { KerasModelError } from './errors.js';
import { renameKeras3Options } from './options.js';

type Json = Record<string, unknown>;

export interface KerasLayerInfo {
  name: string;
  className: string;
  /** Keras 3's module of the class (keras.layers, qkeras.qlayers…), when saved. */
  module?: string;
}

export interface NormalisedModel {
  /** Keras 2 form: {class_name, config}; give it to tf.loadLayersModel as modelTopology. */
  topology: Json;
  modelName: string;
  /** The model's layers in config order. */
  layers: KerasLayerInfo[];
}

const MODEL_CLASSES = new Set(['Sequential', 'Functional', 'Model']);
const POLICY_CLASSES = new Set(['DTypePolicy', 'FloatDTypePolicy', 'Policy']);
/** Keys Keras 3 adds beside class_name that tfjs does not know. */
const KERAS3_EXTRA_KEYS = new Set(['module', 'registered_name', 'build_config', 'compile_config', 'shared_object_id']);

export function normaliseModelConfig(raw: unknown, file: string): NormalisedModel {
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
  const rawLayers = config['layers'];
  if (!Array.isArray(rawLayers)) throw fail(`model config of ${className} has no layers list`);
  const layers: KerasLayerInfo[] = [];
  const normLayers = rawLayers.map((l, i) => {
    if (!isObject(l) || typeof l['class_name'] !== 'string' || !isObject(l['config'])) throw fail(`layer ${i} of the model config has no class_name and config`);
    const layerClass = l['class_name'];
    const layerConfig = l['config'];
    const name = typeof l['name'] === 'string' ? l['name'] : String(layerConfig['name'] ?? `#${i}`);
    if (MODEL_CLASSES.has(layerClass)) {
      throw fail(`layer ${name} is a nested ${layerClass} model; nested models are not supported (flatten the model before saving)`);
    }
    const policy = isObject(layerConfig['dtype']) ? layerConfig['dtype']['class_name'] : undefined;
    if (typeof policy === 'string' && policy.startsWith('Quantized')) {
      throw fail(`layer ${name} (${layerClass}) was quantized by Keras (${policy}); import the float model and quantize it in the studio`);
    }
    layers.push({ name, className: layerClass, ...(typeof l['module'] === 'string' ? { module: l['module'] } : {}) });
    const out: Json = { class_name: layerClass, config: normaliseLayerConfig(layerClass, layerConfig) };
    if ('name' in l) out['name'] = l['name'];
    if ('inbound_nodes' in l) out['inbound_nodes'] = normaliseInboundNodes(l['inbound_nodes'], name, fail);
    return out;
  });
  const normConfig: Json = { ...(normaliseValue(withoutKeys(config, ['layers'])) as Json), layers: normLayers };
  if (className === 'Sequential') giveSequentialAnInputShape(normConfig);
  for (const key of ['input_layers', 'output_layers']) {
    if (key in normConfig) normConfig[key] = nestTensorRefs(normConfig[key]);
  }
  // tfjs names the Keras 2 functional class Model.
  const topologyClass = className === 'Functional' ? 'Model' : className;
  const modelName = typeof config['name'] === 'string' ? config['name'] : 'model';
  return { topology: { class_name: topologyClass, config: normConfig }, modelName, layers };
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

function normaliseLayerConfig(className: string, config: Json): Json {
  const out = normaliseValue(config) as Json;
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
