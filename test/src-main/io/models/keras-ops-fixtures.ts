/**
 * Config transforms for the Keras writers (keras-nested-fixtures.ts,
 * WriteOptions.transform) that put back what Keras itself writes where the
 * tfjs models have one Activation: keras.applications' MobileNetV3 computes
 * its hard sigmoid as ReLU(6.0)(x + 3.0) * (1.0 / 6.0), which Keras 3 saves as
 * two operations (module keras.src.ops.numpy, classes Add and Multiply, called
 * on a tensor and a constant) around a ReLU layer, and Keras 2 as two
 * TFOpLambda layers (tf.__operators__.add, tf.math.multiply, the constant in
 * the call's kwargs as y) around it.
 */
type Json = Record<string, unknown>;

const SIXTH = 1.0 / 6.0;
const POLICY = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };

/** Keras 3 __keras_tensor__ of call 0 of `layer`. */
function tensor(layer: string, shape: unknown): Json {
  return { class_name: '__keras_tensor__', config: { shape, dtype: 'float32', keras_history: [layer, 0, 0] } };
}

/** Every functional level of a Keras config (nested ones too) whose Activation layers `match`, each replaced by what `expand` gives; references to it now read the last entry. */
function replaceActivations(config: Json, match: (entry: Json) => boolean, expand: (entry: Json, n: number) => Json[], refer: (refs: unknown, from: string, to: string) => unknown): Json {
  let n = 0;
  const walk = (model: Json): Json => {
    const inner = model['config'] as Json;
    const layers = inner['layers'] as Json[];
    const renamed = new Map<string, string>();
    const out: Json[] = [];
    for (const l of layers) {
      const className = String(l['class_name']);
      if (className === 'Sequential' || className === 'Functional' || className === 'Model') {
        out.push({ ...walk(l), ...(l['inbound_nodes'] ? { inbound_nodes: l['inbound_nodes'] } : {}), ...(l['name'] ? { name: l['name'] } : {}) });
      } else if (l['inbound_nodes'] && match(l)) {
        const entries = expand(l, n++);
        renamed.set(String(l['name']), String(entries[entries.length - 1]!['name']));
        out.push(...entries);
      } else {
        out.push(l);
      }
    }
    let layersOut = out;
    for (const [from, to] of renamed) {
      layersOut = layersOut.map((l) => (l['inbound_nodes'] ? { ...l, inbound_nodes: refer(l['inbound_nodes'], from, to) } : l));
    }
    const next: Json = { ...inner, layers: layersOut };
    for (const key of ['output_layers', 'input_layers']) if (key in inner) for (const [from, to] of renamed) next[key] = refer(next[key], from, to);
    return { ...model, config: next };
  };
  return walk(config);
}

/** Any [name, node, index…] reference (at any depth) to `from` made to point at `to`. */
function referTo(v: unknown, from: string, to: string): unknown {
  if (Array.isArray(v)) return typeof v[0] === 'string' && v[0] === from && typeof v[1] === 'number' ? [to, ...v.slice(1)] : v.map((x) => referTo(x, from, to));
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, referTo(x, from, to)]));
  return v;
}

/** A Keras 3 config.json with each Activation('hard_sigmoid') as Keras 3's MobileNetV3 writes it: ops Add(x, 3.0), ReLU(6.0), ops Multiply(·, 1/6). */
export function keras3HardSigmoidOps(config: Json): Json {
  return replaceActivations(
    config,
    (l) => l['class_name'] === 'Activation' && (l['config'] as Json)['activation'] === 'hard_sigmoid',
    (l, n) => {
      const call = (l['inbound_nodes'] as Json[])[0]!;
      const x = (call['args'] as Json[])[0]!;
      const shape = (x['config'] as Json)['shape'];
      const suffix = n === 0 ? '' : `_${n}`;
      const [add, relu, mul] = [`add${suffix}`, `re_lu_hs${suffix}`, `multiply_hs${suffix}`];
      const op = (className: string, name: string, args: unknown[]) => ({ module: 'keras.src.ops.numpy', class_name: className, config: { name }, registered_name: className, name, inbound_nodes: [{ args, kwargs: {} }] });
      return [
        op('Add', add, [x, 3.0]),
        {
          module: 'keras.layers',
          class_name: 'ReLU',
          config: { name: relu, trainable: true, dtype: POLICY, max_value: 6.0, negative_slope: 0.0, threshold: 0.0 },
          registered_name: null,
          build_config: { input_shape: shape },
          name: relu,
          inbound_nodes: [{ args: [tensor(add, shape)], kwargs: {} }],
        },
        op('Multiply', mul, [tensor(relu, shape), SIXTH]),
      ];
    },
    referTo,
  );
}

/**
 * A Keras 2 model_config with each Activation of `activation` (Keras 3's hard
 * sigmoid, tfjs's 'keras3_hard_sigmoid') as tf.keras 2's MobileNetV3 writes
 * it: TFOpLambda tf.__operators__.add (y 3.0), ReLU(6.0), TFOpLambda tf.math.multiply (y 1/6).
 */
export function keras2HardSigmoidOps(config: Json, activation = 'keras3_hard_sigmoid'): Json {
  return replaceActivations(
    config,
    (l) => l['class_name'] === 'Activation' && (l['config'] as Json)['activation'] === activation,
    (l, n) => {
      const ref = ((l['inbound_nodes'] as unknown[][][])[0]![0] as unknown[]).slice(0, 3);
      const suffix = n === 0 ? '' : `_${n}`;
      const [add, relu, mul] = [`tf.__operators__.add${suffix}`, `re_lu_hs${suffix}`, `tf.math.multiply${suffix}`];
      const lambda = (name: string, fn: string, from: unknown[], y: number) => ({
        class_name: 'TFOpLambda',
        config: { name, trainable: true, dtype: 'float32', function: fn },
        name,
        inbound_nodes: [[[...from, { y, name: null }]]],
      });
      return [
        lambda(add, '__operators__.add', ref, 3.0),
        { class_name: 'ReLU', config: { name: relu, trainable: true, dtype: 'float32', max_value: 6.0, negative_slope: 0.0, threshold: 0.0 }, name: relu, inbound_nodes: [[[add, 0, 0, {}]]] },
        lambda(mul, 'math.multiply', [relu, 0, 0], SIXTH),
      ];
    },
    referTo,
  );
}
