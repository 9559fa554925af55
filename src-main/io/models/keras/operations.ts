/**
 * Arithmetic with a constant written into a functional model's config as an
 * operation rather than a layer: Keras 3 serialises `x + 3.0` on a symbolic
 * tensor as an entry of module keras.src.ops.numpy, class Add, called on
 * [tensor, 3.0]; Keras 2 as a TFOpLambda layer (function "__operators__.add",
 * the constant in the call's kwargs as y). keras.applications' MobileNetV3
 * builds its hard sigmoid so (ReLU(6.0)(x + 3.0) * (1.0 / 6.0)), Keras 2's its
 * hard swish too, and TF 2.5-2.8's EfficientNet divides by the ImageNet
 * standard deviations (tf.math.truediv). tfjs has neither form; each such
 * entry becomes a Rescaling (y = x·scale + offset, a number or one per
 * channel), which tfjs builds and the IR models (an affine node):
 *   x + c, c + x → offset c;  x − c → offset −c;  c − x → scale −1, offset c;
 *   x·c, c·x → scale c;  x / c → scale 1/c.
 * Any other operation (a Keras 3 op, a TFOpLambda function) is refused naming
 * the layer. The Keras readers (config.ts) and the TF.js model.json reader
 * (readTopologyOperations: tensorflowjs's converter writes a tf.keras model's
 * TFOpLambda layers into model.json as they are) both read them here.
 */
type Json = Record<string, unknown>;

/** Keras 3 numpy operations and Keras 2 TFOpLambda functions read, by what they compute. */
type Arithmetic = 'add' | 'subtract' | 'multiply' | 'divide';
const KERAS3_OPS: Record<string, Arithmetic> = { Add: 'add', Subtract: 'subtract', Multiply: 'multiply', Divide: 'divide', TrueDivide: 'divide' };
const TF_FUNCTIONS: Record<string, Arithmetic> = {
  '__operators__.add': 'add',
  'math.add': 'add',
  'math.subtract': 'subtract',
  'math.multiply': 'multiply',
  'math.truediv': 'divide',
  'math.divide': 'divide',
};

export interface OperationLayer {
  /** The normalised entry: a Rescaling with Keras 2 inbound nodes. */
  entry: Json;
  /** What it was, for messages: "keras.src.ops.numpy Add", "TFOpLambda tf.__operators__.add". */
  was: string;
}

/** Whether the entry is a Keras 3 operation (not a layer): Keras 3 writes their module as keras.src.ops.… */
export function isKeras3Operation(entry: Json): boolean {
  return typeof entry['module'] === 'string' && /^keras(\.src)?\.ops(\.|$)/.test(entry['module']);
}

/**
 * The Rescaling an operation entry stands for, or undefined when `entry` is
 * not an operation (a layer). Throws through `fail` for an operation the
 * studio cannot read. `path` names the layer in messages.
 */
export function operationAsRescaling(entry: Json, path: string, fail: (problem: string) => Error): OperationLayer | undefined {
  const className = String(entry['class_name']);
  const config = (entry['config'] ?? {}) as Json;
  const name = typeof entry['name'] === 'string' ? entry['name'] : String(config['name'] ?? path);
  if (isKeras3Operation(entry)) {
    const was = `${String(entry['module'])} ${className}`;
    const op = KERAS3_OPS[className];
    if (!op) throw fail(`layer ${path} is the Keras operation ${was}, which the studio cannot read (only adding, subtracting, multiplying or dividing by a constant)`);
    const nodes = entry['inbound_nodes'];
    if (!Array.isArray(nodes) || nodes.length !== 1 || !isObject(nodes[0]) || !Array.isArray(nodes[0]['args'])) {
      throw fail(`layer ${path} (${was}) is called ${Array.isArray(nodes) ? nodes.length : 0} times or in a form the studio does not know; it must be called once on a tensor and a constant`);
    }
    const args = nodes[0]['args'] as unknown[];
    const tensorAt = args.findIndex(isKerasTensor);
    const constant = args.length === 2 && tensorAt >= 0 ? constantValue(args[1 - tensorAt]) : undefined;
    if (constant === undefined) throw fail(`layer ${path} (${was}) is not a tensor and a constant number (or one per channel); the studio reads only arithmetic with a constant`);
    const history = (args[tensorAt] as Json)['config'] as Json;
    const ref = history['keras_history'] as unknown[];
    return { entry: rescaling(name, op, constant, tensorAt === 0, [[ref[0], ref[1], ref[2], {}]], path, was, fail), was };
  }
  if (className === 'TFOpLambda') {
    const fn = String(config['function'] ?? '');
    const was = `TFOpLambda tf.${fn}`;
    const op = TF_FUNCTIONS[fn];
    if (!op) {
      throw fail(
        `layer ${path} is a TFOpLambda calling tf.${fn || '(no function)'}, which the studio cannot read: it reads TFOpLambda layers that add, subtract, multiply or divide by a constant (${Object.keys(TF_FUNCTIONS).map((f) => `tf.${f}`).join(', ')}). Replace the operation with a Keras layer in the model and save it again`,
      );
    }
    const nodes = entry['inbound_nodes'];
    const call = Array.isArray(nodes) && nodes.length === 1 && Array.isArray(nodes[0]) && nodes[0].length === 1 ? (nodes[0][0] as unknown[]) : undefined;
    const kwargs = call && isObject(call[3]) ? call[3] : {};
    const constant = constantValue(kwargs['y']);
    if (!call || typeof call[0] !== 'string' || constant === undefined) {
      throw fail(`layer ${path} (${was}) is not a tensor and a constant number (or one per channel); the studio reads only arithmetic with a constant`);
    }
    return { entry: rescaling(name, op, constant, true, [[call[0], call[1], call[2], {}]], path, was, fail), was };
  }
  return undefined;
}

function rescaling(name: string, op: Arithmetic, c: number[], tensorFirst: boolean, refs: unknown[][], path: string, was: string, fail: (problem: string) => Error): Json {
  const one = (v: number[]) => (v.length === 1 ? v[0]! : v);
  let scale: number[] = [1];
  let offset: number[] = [0];
  if (op === 'add') offset = c;
  else if (op === 'multiply') scale = c;
  else if (op === 'subtract') [scale, offset] = tensorFirst ? [[1], c.map((v) => -v)] : [[-1], c];
  else if (tensorFirst) scale = c.map((v) => 1 / v);
  else throw fail(`layer ${path} (${was}) divides a constant by a tensor, which the studio cannot read`);
  return { class_name: 'Rescaling', config: { name, trainable: true, dtype: 'float32', scale: one(scale), offset: one(offset) }, name, inbound_nodes: [refs] };
}

/** A constant number, or a list of them (one per channel), as Keras writes it (Keras 3 wraps NumPy arrays as __numpy__). */
function constantValue(v: unknown): number[] | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return [v];
  if (isObject(v) && v['class_name'] === '__numpy__' && isObject(v['config'])) return constantValue(v['config']['value']);
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x))) return v as number[];
  return undefined;
}

function isKerasTensor(v: unknown): boolean {
  return isObject(v) && v['class_name'] === '__keras_tensor__' && isObject(v['config']) && Array.isArray(v['config']['keras_history']);
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
