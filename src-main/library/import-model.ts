/**
 * Importing a model file into the library, by copy or by reference. Either
 * way the model is identified by the SHA-256 of its files' content (see
 * model-files.ts), so the same content imported twice returns the entry
 * already there, whatever its name, path or mode.
 *
 *  - reference: the library points at the user's file.
 *  - copy: the files go to models/<sha256>/ beside the database and the
 *    library points at the copy (written to a temporary folder first and
 *    renamed, so a failed import leaves no half copy).
 *
 * The worker reads the model before anything is written: a file it cannot
 * read adds nothing to the store and leaves no copy.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ModelSummary } from '../api/contract.js';
import { ApiError } from '../api/dispatch.js';
import type { EngineHost } from '../jobs/engine-host.js';
import { StoreConflictError, type Store } from '../store/index.js';
import { isInside, libraryFolders } from './folders.js';
import { hashFiles, modelFiles, ModelFilesError, resolveModelPath, type ModelFile } from './model-files.js';
import { storeModel } from './store-model.js';

export type ImportMode = 'copy' | 'reference';

export interface ModelImportRequest {
  path: string;
  mode: ImportMode;
  name?: string;
  source?: ModelSummary['source'];
  description?: string;
}

interface ModelRead {
  bytes: Uint8Array;
  format: string;
  name: string;
}

/** File and reader problems (each message names its file) become the API's invalid_input. */
function asApiError(err: unknown): unknown {
  if (err instanceof ApiError || !(err instanceof Error)) return err;
  return new ApiError('invalid_input', err.message);
}

export async function importModel(ctx: { store: Store; engine: EngineHost }, req: ModelImportRequest): Promise<ModelSummary> {
  if (!path.isAbsolute(req.path)) throw new ApiError('invalid_input', `model path must be absolute, got ${req.path}`);
  const folders = libraryFolders(ctx.store.path);
  try {
    return await importChecked(ctx, req, folders.models, folders.imports);
  } catch (err) {
    const batch = uploadBatch(folders.imports, req.path);
    if (batch && err instanceof ModelFilesError && err.missing) {
      // The browser only sent what was dropped; name the file in the user's terms.
      throw new ApiError('invalid_input', `${path.basename(req.path)} names the weight file ${path.relative(batch, err.file)}, which was not dropped with it: drop the model file together with its weight files`);
    }
    throw asApiError(err);
  } finally {
    // An upload copied into the library (or refused) is not needed any more.
    const batch = uploadBatch(folders.imports, req.path);
    if (req.mode === 'copy' && batch) await rm(batch, { recursive: true, force: true });
  }
}

/** imports/<batch> when `file` lies in one. */
function uploadBatch(importsDir: string, file: string): string | null {
  if (!isInside(importsDir, file)) return null;
  const first = path.relative(importsDir, path.resolve(file)).split(path.sep)[0]!;
  return path.join(importsDir, first);
}

async function importChecked(ctx: { store: Store; engine: EngineHost }, req: ModelImportRequest, modelsDir: string, importsDir: string): Promise<ModelSummary> {
  const file = await resolveModelPath(path.normalize(req.path));
  const files = await modelFiles(file);
  const sha256 = await hashFiles(files);
  const existing = ctx.store.models.findBySha256(sha256);
  if (existing) return existing;

  const read = await ctx.engine.call<ModelRead>('readModel', { path: file });
  const name = req.name?.trim() || defaultName(read.name, file, importsDir);
  const meta = { name, source: req.source ?? 'imported', format: read.format, description: req.description ?? (isInside(importsDir, file) ? `uploaded as ${path.basename(file)}` : `imported from ${file}`) };
  if (req.mode === 'reference') return insertOnce(ctx.store, { ...meta, path: file }, read.bytes, sha256);

  const copyDir = path.join(modelsDir, sha256);
  await copyModel(files, copyDir);
  try {
    return insertOnce(ctx.store, { ...meta, path: path.join(copyDir, files[0]!.relative) }, read.bytes, sha256);
  } catch (err) {
    if (!ctx.store.models.findBySha256(sha256)) await rm(copyDir, { recursive: true, force: true });
    throw err;
  }
}

/** Two imports of the same content racing: the second gets the first's entry. */
function insertOnce(store: Store, meta: Parameters<typeof storeModel>[1], bytes: Uint8Array, sha256: string): ModelSummary {
  try {
    return storeModel(store, meta, bytes, sha256);
  } catch (err) {
    const existing = err instanceof StoreConflictError ? store.models.findBySha256(sha256) : undefined;
    if (existing) return existing;
    throw err;
  }
}

/** An upload sits in imports/<batch>/, whose name means nothing to the user: name it after the file instead. */
function defaultName(readerName: string, file: string, importsDir: string): string {
  if (!isInside(importsDir, file)) return readerName;
  const stem = path.basename(file, path.extname(file));
  return stem === 'model' ? 'uploaded model' : stem;
}

async function copyModel(files: readonly ModelFile[], dest: string): Promise<void> {
  for (const f of files) {
    if (f.relative.startsWith('..') || path.isAbsolute(f.relative)) {
      throw new ModelFilesError(f.path, `lies outside the model's folder (${files[0]!.path} names it as ${f.relative}); import by reference, or move it beside the model`);
    }
  }
  const parent = path.dirname(dest);
  await mkdir(parent, { recursive: true });
  const temp = path.join(parent, `.partial-${path.basename(dest)}-${randomBytes(4).toString('hex')}`);
  try {
    for (const f of files) {
      const target = path.join(temp, f.relative);
      await mkdir(path.dirname(target), { recursive: true });
      await copyFile(f.path, target);
    }
    // Content-addressed: a folder already there for this hash is a leftover of a deleted entry.
    await rm(dest, { recursive: true, force: true });
    await rename(temp, dest);
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    if (err instanceof ModelFilesError) throw err;
    throw new ModelFilesError(dest, `cannot copy the model here: ${(err as Error).message}`);
  }
}
