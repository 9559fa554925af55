/**
 * Reads a stored export back as its graph (exports.graph): ONNX and TFLite
 * files only; TF.js and the params sidecar are refused, as they have no
 * operator graph of their own to show.
 */
import { readFile } from 'node:fs/promises';
import { onnxFileGraph } from './onnx.js';
import { tfliteFileGraph } from './tflite.js';
import type { FileGraph } from './types.js';

export type { FileEdge, FileGraph, FileNode, FileQuant, FileTensor } from './types.js';

export async function readFileGraph(file: string, format: string): Promise<FileGraph> {
  if (format !== 'onnx' && format !== 'tflite') throw new Error(`${file}: a ${format} export has no operator graph to show; only ONNX and TFLite files do`);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new Error(`${file}: the exported file cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}); it was moved or deleted after the export`);
  }
  return format === 'onnx' ? onnxFileGraph(bytes, file) : tfliteFileGraph(bytes, file);
}
