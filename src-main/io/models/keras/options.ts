/**
 * tfjs-layers builds a layer from a Keras config by reading the options it
 * knows and silently ignoring the rest. An ignored option that changes what
 * the layer computes (Conv2D groups=2, a Keras 3 renamed argument) would give
 * a model that imports cleanly and computes something else, so every option
 * tfjs dropped must be one that does not change inference.
 */
import type * as tf from '@tensorflow/tfjs';
import { KerasModelError } from './errors.js';

type Json = Record<string, unknown>;

/** Options tfjs drops that never change inference: dtypes (tfjs is float32), seeds, autocast. */
const HARMLESS = new Set(['dtype', 'seed', 'autocast', 'trainable']);

/**
 * Options tfjs does not have, by layer class, with the value that means
 * Keras's default (harmless: the layer computes what tfjs computes); any
 * other value is refused. Keras writes ReLU(6.0) as max_value 6.0,
 * negative_slope 0.0, threshold 0.0 (Keras 2 and 3 alike).
 */
const DEFAULT_ONLY: Record<string, Record<string, unknown>> = {
  ReLU: { negative_slope: 0, threshold: 0 },
};

/** Keras 3 names tfjs knows by their Keras 2 names, by layer class. */
const RENAMED: Record<string, Record<string, string>> = {
  LeakyReLU: { negative_slope: 'alpha' },
};

/** Renames Keras 3 arguments in place to the names tfjs reads. */
export function renameKeras3Options(className: string, config: Json): void {
  for (const [from, to] of Object.entries(RENAMED[className] ?? {})) {
    if (from in config && !(to in config)) config[to] = config[from];
    delete config[from];
  }
}

/** `layers`: each layer's Keras config beside the tfjs layer built from it; `path` names it in messages. */
export function checkIgnoredOptions(layers: { path: string; class_name: string; config: Json; layer: tf.layers.Layer }[], file: string): void {
  for (const l of layers) {
    const name = l.path;
    const kept = new Set(Object.keys(l.layer.getConfig()));
    for (const [key, value] of Object.entries(l.config)) {
      if (kept.has(camel(key)) || harmless(l.class_name, key, value, l.config)) continue;
      throw new KerasModelError(
        file,
        `layer ${name} (${l.class_name}) sets ${key}=${JSON.stringify(value)}, which TensorFlow.js does not support; the imported layer would compute something else`,
      );
    }
  }
}

function harmless(className: string, key: string, value: unknown, config: Json): boolean {
  const defaults = DEFAULT_ONLY[className];
  if (defaults && Object.hasOwn(defaults, key)) return value === defaults[key] || value == null;
  if (value === null || value === undefined || value === false || HARMLESS.has(key)) return true;
  if (key === 'groups') return value === 1;
  // LoRA scaling only matters when LoRA is on (lora_rank set).
  if (key === 'lora_alpha') return config['lora_rank'] == null;
  return false;
}

/** As tfjs-layers' toCamelCase. */
export const camel = (s: string): string => (s.length <= 1 || !s.includes('_') ? s : s.replace(/_+(\w|$)/g, (_, c: string) => c.toUpperCase()));
