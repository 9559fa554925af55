/**
 * The graph of an exported ONNX file: its nodes in file order (the QDQ pairs,
 * layout Transposes and activations as written), tensors typed where the file
 * types them (initializers, graph inputs and outputs, a QuantizeLinear's
 * output by its zero point), quantizers read from the scale and zero point
 * initializers, and each node's Keras layer from its `studio.layer` tag.
 */
import { decodeModel, dtypeName, tensorValues, attrOf, type ValueInfoProto } from '../../engine/onnx/proto.js';
import { onnxLayerMap } from '../onnx/layer-map.js';
import { edgesOf, quantOf, type FileGraph, type FileNode, type FileQuant, type FileTensor } from './types.js';

const QDQ = new Set(['QuantizeLinear', 'DequantizeLinear']);

export function onnxFileGraph(bytes: Uint8Array, file: string): FileGraph {
  let model;
  try {
    model = decodeModel(bytes);
  } catch (err) {
    throw new Error(`${file}: not an ONNX model (${err instanceof Error ? err.message : String(err)})`);
  }
  const g = model.graph;
  if (!g || g.node.length === 0) throw new Error(`${file}: the ONNX model has no graph nodes`);
  const map = onnxLayerMap(model);
  const inits = new Map(g.initializer.map((t) => [t.name, t]));
  const typed = new Map<string, Pick<FileTensor, 'shape' | 'dtype'>>();
  for (const v of [...g.input, ...g.output, ...g.valueInfo]) typed.set(v.name, typeOf(v));

  // A quantized tensor (QuantizeLinear's output, DequantizeLinear's input) carries its quantizer's scale and zero point.
  const quant = new Map<string, FileQuant>();
  const qdtype = new Map<string, string>();
  for (const n of g.node) {
    if (!QDQ.has(n.opType)) continue;
    const scale = inits.get(n.input[1] ?? '');
    const zero = inits.get(n.input[2] ?? '');
    if (!scale) continue;
    const axis = attrOf(n, 'axis');
    const q = quantOf(tensorValues(scale), zero ? tensorValues(zero) : [], axis ? Number(axis.i) : 1);
    const stored = n.opType === 'QuantizeLinear' ? n.output[0] : n.input[0];
    if (q && stored) quant.set(stored, q);
    if (zero && stored) qdtype.set(stored, dtypeName(zero.dataType));
  }

  const tensor = (name: string): FileTensor => {
    const init = inits.get(name);
    if (init) return { name, shape: init.dims.map(Number), dtype: dtypeName(init.dataType), constant: true, quant: quant.get(name) ?? null };
    const t = typed.get(name);
    return { name, shape: t?.shape ?? null, dtype: t?.dtype ?? qdtype.get(name) ?? null, constant: false, quant: quant.get(name) ?? null };
  };

  const ids = new Set<string>();
  const unique = (name: string, fallback: string): string => {
    let id = name === '' ? fallback : name;
    for (let k = 2; ids.has(id); k++) id = `${name || fallback}#${k}`;
    ids.add(id);
    return id;
  };
  const nodes: FileNode[] = [];
  for (const v of g.input) {
    if (inits.has(v.name)) continue;
    // The writer tags nodes, not graph inputs: the input belongs to the layer of the first node reading it (the input layer's quantizer).
    const reader = g.node.find((n) => n.input.includes(v.name));
    const layer = map.tensors[v.name] ?? (reader ? map.nodes[reader.name] : undefined) ?? null;
    nodes.push({ id: unique(v.name, 'input'), op: 'Input', layer, inputs: [], outputs: [tensor(v.name)], fusedActivation: null });
  }
  g.node.forEach((n, i) => {
    nodes.push({
      id: unique(n.name, `${n.opType}#${i}`),
      op: n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : n.opType,
      layer: map.nodes[n.name] ?? null,
      inputs: n.input.filter((x) => x !== '').map(tensor),
      outputs: n.output.filter((x) => x !== '').map(tensor),
      fusedActivation: null,
    });
  });
  return { format: 'onnx', inputs: g.input.filter((v) => !inits.has(v.name)).map((v) => v.name), outputs: g.output.map((v) => v.name), nodes, edges: edgesOf(nodes) };
}

function typeOf(v: ValueInfoProto): Pick<FileTensor, 'shape' | 'dtype'> {
  if (v.type?.value.case !== 'tensorType') return { shape: null, dtype: null };
  const tt = v.type.value.value;
  const dims = tt.shape?.dim.map((d) => (d.value.case === 'dimValue' ? Number(d.value.value) : d.value.case === 'dimParam' ? d.value.value : '?')) ?? null;
  return { shape: dims, dtype: tt.elemType ? dtypeName(tt.elemType) : null };
}
