/**
 * One table of model readers, keyed by how the file is named (Netron's
 * register habit): each format lives in its own file with its own error class.
 */
import path from 'node:path';
import type { Graph } from '../../engine/graph/types.js';
import { readKerasModel } from './keras/read.js';
import { readTfjsLayersModel } from './tfjs-layers.js';

export interface ModelRead {
  graph: Graph;
  format: string;
  /** A default name for the library: the folder or file name. */
  name: string;
}

interface ModelReader {
  format: string;
  matches(file: string): boolean;
  read(file: string): Promise<Graph>;
}

const hasExtension = (file: string, ...exts: string[]) => exts.includes(path.extname(file).toLowerCase());

const readers: ModelReader[] = [
  { format: 'tfjs-layers', matches: (f) => f.endsWith('.json'), read: readTfjsLayersModel },
  // The Keras reader tells HDF5 from zip by the file's first bytes, whatever the extension.
  { format: 'keras-h5', matches: (f) => hasExtension(f, '.h5', '.hdf5'), read: readKerasModel },
  { format: 'keras', matches: (f) => hasExtension(f, '.keras'), read: readKerasModel },
];

export class UnknownModelFormatError extends Error {
  constructor(file: string) {
    super(`${file}: not a model format the studio reads (supported: ${readers.map((r) => r.format).join(', ')})`);
    this.name = 'UnknownModelFormatError';
  }
}

export async function readModelFile(file: string): Promise<ModelRead> {
  const reader = readers.find((r) => r.matches(file));
  if (!reader) throw new UnknownModelFormatError(file);
  const graph = await reader.read(file);
  const base = path.basename(file, path.extname(file));
  const name = base === 'model' ? path.basename(path.dirname(file)) : base;
  return { graph, format: reader.format, name };
}
