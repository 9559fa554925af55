/**
 * The files one model is made of, and their content hash. A TensorFlow.js
 * layers model is model.json plus the weight shards its weightsManifest lists
 * (relative to model.json's folder); every other format (Keras .h5, .keras)
 * is one file. Nothing here parses weights: the readers in io/models do that.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';

export class ModelFilesError extends Error {
  constructor(
    readonly file: string,
    problem: string,
    /** The file is not there at all. */
    readonly missing = false,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'ModelFilesError';
  }
}

export interface ModelFile {
  /** Absolute path on disk. */
  path: string;
  /** Path relative to the model's folder, as a copy keeps it. */
  relative: string;
}

/** A folder holding model.json stands for that model.json; anything else is the path itself. Throws if nothing is there. */
export async function resolveModelPath(p: string): Promise<string> {
  const info = await stat(p).catch(() => null);
  if (!info) throw new ModelFilesError(p, 'not found');
  if (!info.isDirectory()) return p;
  const inside = path.join(p, 'model.json');
  if (await stat(inside).catch(() => null)) return inside;
  throw new ModelFilesError(p, 'is a folder without a model.json; give the model file itself (model.json, .h5 or .keras)');
}

/** The shard paths a model.json names; [] when it cannot be read as one (the reader then says what is wrong). */
async function manifestPaths(jsonFile: string): Promise<string[]> {
  try {
    const json = JSON.parse(await readFile(jsonFile, 'utf8')) as { weightsManifest?: { paths?: unknown }[] };
    if (!Array.isArray(json.weightsManifest)) return [];
    return json.weightsManifest.flatMap((group) => (Array.isArray(group?.paths) ? group.paths.filter((p): p is string => typeof p === 'string') : []));
  } catch {
    return [];
  }
}

/** The model file first, then its weight shards in manifest order (each once). */
export async function modelFiles(modelFile: string): Promise<ModelFile[]> {
  const files: ModelFile[] = [{ path: modelFile, relative: path.basename(modelFile) }];
  if (path.extname(modelFile).toLowerCase() !== '.json') return files;
  const dir = path.dirname(modelFile);
  const seen = new Set<string>();
  for (const shard of await manifestPaths(modelFile)) {
    const relative = path.normalize(shard);
    if (seen.has(relative)) continue;
    seen.add(relative);
    files.push({ path: path.resolve(dir, shard), relative });
  }
  return files;
}

/**
 * SHA-256 over the files' bytes in order, streamed (memory stays flat for
 * large files). For a one-file model it equals `sha256sum FILE`.
 */
export async function hashFiles(files: readonly ModelFile[]): Promise<string> {
  const hash = createHash('sha256');
  for (const file of files) {
    await new Promise<void>((resolve, reject) => {
      const stream = createReadStream(file.path);
      stream.on('data', (chunk) => hash.update(chunk));
      stream.on('error', (err: NodeJS.ErrnoException) =>
        reject(
          err.code === 'ENOENT'
            ? new ModelFilesError(file.path, 'not found (the model names it as a weight file)', true)
            : new ModelFilesError(file.path, `cannot be read: ${err.message}`),
        ),
      );
      stream.on('end', () => resolve());
    });
  }
  return hash.digest('hex');
}
