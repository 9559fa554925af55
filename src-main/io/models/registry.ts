/**
 * One table of model readers, keyed by how the file is named (Netron's
 * register habit): each format lives in its own file with its own error class.
 */
import path from 'node:path';
import type { Graph } from '../../engine/graph/types.js';
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

const readers: ModelReader[] = [{ format: 'tfjs-layers', matches: (f) => f.endsWith('.json'), read: readTfjsLayersModel }];

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
