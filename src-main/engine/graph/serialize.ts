/**
 * The studio's model file: a small header, the graph as JSON with each weight
 * replaced by a reference, then the float32 weights back to back. Plain data,
 * so it crosses worker threads and sits in SQLite without tfjs.
 *
 * Layout: "QSG1" | uint32 LE header length | header JSON (UTF-8) | zero padding
 * to a multiple of 4 | float32 LE weights.
 */
import type { Graph, GraphNode, WeightData } from './types.js';

const MAGIC = 'QSG1';

interface WeightRef {
  shape: number[];
  offset: number;
  length: number;
}

export class GraphFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GraphFormatError';
  }
}

export function serializeGraph(graph: Graph): Uint8Array {
  const chunks: Float32Array[] = [];
  let offset = 0;
  const nodes = graph.nodes.map((node) => {
    if (!('weights' in node)) return node;
    const refs: Record<string, WeightRef> = {};
    for (const [name, w] of Object.entries(node.weights) as [string, WeightData | undefined][]) {
      if (!w) continue;
      refs[name] = { shape: w.shape, offset, length: w.values.length };
      chunks.push(w.values);
      offset += w.values.length;
    }
    return { ...node, weights: refs };
  });
  const header = new TextEncoder().encode(JSON.stringify({ name: graph.name, output: graph.output, nodes }));
  const headerEnd = 8 + header.length;
  const dataStart = Math.ceil(headerEnd / 4) * 4;
  const bytes = new Uint8Array(dataStart + offset * 4);
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(bytes.buffer).setUint32(4, header.length, true);
  bytes.set(header, 8);
  const floats = new Float32Array(bytes.buffer, dataStart, offset);
  let at = 0;
  for (const chunk of chunks) {
    floats.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

export function deserializeGraph(bytes: Uint8Array, source = 'model'): Graph {
  if (bytes.length < 8 || new TextDecoder().decode(bytes.subarray(0, 4)) !== MAGIC) {
    throw new GraphFormatError(`${source} is not a studio model (missing ${MAGIC} header)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(4, true);
  if (8 + headerLength > bytes.length) throw new GraphFormatError(`${source} is truncated inside its header`);
  let header: { name: string; output: string; nodes: GraphNode[] };
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch (err) {
    throw new GraphFormatError(`${source} has a corrupt header: ${(err as Error).message}`);
  }
  const dataStart = Math.ceil((8 + headerLength) / 4) * 4;
  // Copy so the floats are aligned and owned, whatever buffer the bytes came in.
  const data = new Float32Array(bytes.slice(dataStart).buffer);
  const nodes = header.nodes.map((node) => {
    if (!('weights' in node)) return node;
    const weights: Record<string, WeightData> = {};
    for (const [name, ref] of Object.entries(node.weights as unknown as Record<string, WeightRef>)) {
      if (ref.offset + ref.length > data.length) throw new GraphFormatError(`${source} is truncated: weight ${node.name}/${name} lies past the end`);
      weights[name] = { shape: ref.shape, values: data.slice(ref.offset, ref.offset + ref.length) };
    }
    return { ...node, weights } as GraphNode;
  });
  return { name: header.name, output: header.output, nodes };
}
