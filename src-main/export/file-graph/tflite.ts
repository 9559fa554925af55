/**
 * The graph of an exported TFLite file: its operators in file order (QUANTIZE
 * and DEQUANTIZE at float ends, the requantizing ops, activations fused into
 * convolutions and Dense), each tensor with its stored shape, type and
 * quantization, and the Keras layer of each operator's output tensor from the
 * file's `studio` metadata (tfliteLayerMap).
 */
import { decodeTflite, tfliteLayerMap } from '../tflite/build.js';
import { ActivationFunctionType, BuiltinOperator, TensorType, type ModelT, type TensorT } from '../tflite/schema/generated/schema_generated.js';
import { edgesOf, quantOf, type FileGraph, type FileNode, type FileTensor } from './types.js';

export function tfliteFileGraph(bytes: Uint8Array, file: string): FileGraph {
  let model: ModelT;
  try {
    model = decodeTflite(bytes);
  } catch (err) {
    throw new Error(`${file}: not a TFLite model (${err instanceof Error ? err.message : String(err)})`);
  }
  const sg = model.subgraphs[0];
  if (!sg || sg.operators.length === 0) throw new Error(`${file}: the TFLite model has no operators in its first subgraph`);
  const layers = tfliteLayerMap(model);
  const nameOf = (i: number) => String(sg.tensors[i]?.name ?? `tensor ${i}`);

  const tensor = (i: number): FileTensor => {
    const t: TensorT | undefined = sg.tensors[i];
    if (!t) throw new Error(`${file}: an operator reads tensor ${i}, which the subgraph does not have`);
    const q = t.quantization;
    const buffer = model.buffers[t.buffer];
    return {
      name: nameOf(i),
      shape: [...t.shape],
      dtype: (TensorType[t.type] ?? `type ${t.type}`).toLowerCase(),
      constant: t.buffer !== 0 && buffer !== undefined && buffer.data.length > 0,
      quant: q ? quantOf(q.scale, q.zeroPoint.map(Number), q.quantizedDimension) : null,
    };
  };

  const nodes: FileNode[] = [];
  for (const i of sg.inputs) nodes.push({ id: nameOf(i), op: 'Input', layer: layers[nameOf(i)] ?? null, inputs: [], outputs: [tensor(i)], fusedActivation: null });
  sg.operators.forEach((o, k) => {
    const code = model.operatorCodes[o.opcodeIndex];
    if (!code) throw new Error(`${file}: operator ${k} uses opcode ${o.opcodeIndex}, which the model does not list`);
    // builtin_code holds codes above 127; deprecated_builtin_code the older ones (schema.fbs).
    const builtin = Math.max(code.builtinCode, code.deprecatedBuiltinCode);
    const outputs = [...o.outputs].filter((i) => i >= 0);
    const first = outputs[0] === undefined ? `operator ${k}` : nameOf(outputs[0]);
    const fused = (o.builtinOptions as { fusedActivationFunction?: ActivationFunctionType } | null)?.fusedActivationFunction;
    nodes.push({
      id: first,
      op: BuiltinOperator[builtin] ?? (code.customCode ? String(code.customCode) : `builtin ${builtin}`),
      layer: layers[first] ?? null,
      inputs: [...o.inputs].filter((i) => i >= 0).map(tensor),
      outputs: outputs.map(tensor),
      fusedActivation: fused === undefined || fused === ActivationFunctionType.NONE ? null : (ActivationFunctionType[fused] ?? String(fused)),
    });
  });
  return { format: 'tflite', inputs: [...sg.inputs].map(nameOf), outputs: [...sg.outputs].map(nameOf), nodes, edges: edgesOf(nodes) };
}
