/**
 * What each export format is and where it writes, without its writer: the
 * main process (handlers, the export job manager) needs only this, and
 * importing the writers would load TensorFlow.js and the converters there
 * for nothing (the engine worker runs the writers: ./index.ts).
 */
import { EXPORT_FORMATS, type ExportFormat } from './types.js';

export interface FormatInfo {
  format: ExportFormat;
  description: string;
  /** What the destination is: a file with this extension, or a folder. */
  target: { kind: 'file'; extension: string } | { kind: 'folder' };
}

export const formatInfo: Record<ExportFormat, FormatInfo> = {
  onnx: { format: 'onnx', description: 'ONNX QDQ (opset 21), verified in onnxruntime-node', target: { kind: 'file', extension: '.onnx' } },
  tflite: { format: 'tflite', description: 'TensorFlow Lite full-integer int8 (float input/output), verified in the TFLite interpreter (wasm)', target: { kind: 'file', extension: '.tflite' } },
  tfjs: { format: 'tfjs', description: 'TensorFlow.js layers model with uint8/uint16 weights, verified with tf.loadLayersModel', target: { kind: 'folder' } },
  params: { format: 'params', description: 'scales and zero points as JSON (+ CSV beside it)', target: { kind: 'file', extension: '.json' } },
};

export function isExportFormat(f: string): f is ExportFormat {
  return (EXPORT_FORMATS as readonly string[]).includes(f);
}

/** The CSV beside a JSON path: x.json → x.csv (else x + '.csv'). */
export function csvPathOf(jsonPath: string): string {
  return jsonPath.toLowerCase().endsWith('.json') ? jsonPath.slice(0, -5) + '.csv' : jsonPath + '.csv';
}

/** Every path an export of `format` to `dest` writes. */
export function exportOutputPaths(format: string, dest: string): string[] {
  return format === 'params' ? [dest, csvPathOf(dest)] : [dest];
}
