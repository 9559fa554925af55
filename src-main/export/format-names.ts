/** The formats an export writes, by name: a leaf the API contract (and through it the renderer's type-check) can import. */
export type ExportFormat = 'onnx' | 'tflite' | 'tfjs' | 'params';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['onnx', 'tflite', 'tfjs', 'params'];
