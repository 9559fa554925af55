/** Rebuilding a tfjs-layers layer from its class name and config, as the runtime and the writers do for opaque nodes. */
import { tf } from '../tfjs.js';
import './tfjs-compat/index.js';

/**
 * A new, unbuilt tfjs-layers layer of `className` from its tfjs config (as
 * layer.getConfig() gives it), the way tf.loadLayersModel deserialises each
 * layer: through the class registry tf.serialization.SerializationMap and the
 * class's fromConfig. `name` overrides the config's name.
 */
export function buildOpaqueLayer(className: string, config: Record<string, unknown>, name: string): tf.layers.Layer {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  if (!entry) throw new Error(`TensorFlow.js has no layer class ${className}`);
  const [cls, fromConfig] = entry;
  // fromConfig may keep references into the config: give it a copy.
  const layer = fromConfig(cls, { ...structuredClone(config), name }) as unknown;
  if (!(layer instanceof tf.layers.Layer)) throw new Error(`${className} is not a layer class`);
  return layer;
}
