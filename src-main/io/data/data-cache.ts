/**
 * Decompressed copies of compressed dataset files, so their records can be
 * read by offset (sources.ts): a .gz IDX file has no random access, nor has a
 * deflated .npz member. Each is decompressed once, streamed in chunks, to a
 * cache file; later loads (and other threads) read that file.
 *
 * Where: $STUDIO_DATA_CACHE when set, else `quantization-studio-data-cache`
 * in the OS temp dir (os.tmpdir()) — the OS may clean it, which only costs a
 * new decompression. A set-but-empty variable, or a folder that cannot be
 * created, read or written, is a DatasetError naming the folder.
 *
 * Key: SHA-256 over (resolved source path, member name, source size, source
 * mtime) — not over the source's content, which would mean reading the whole
 * source on every load; a changed source has another size or mtime, so another
 * key. When a new copy is written, older copies of the same source and member
 * are removed, so the folder holds one copy per source. A copy is written under
 * a temporary name and renamed when complete (so a reader never sees a partial
 * file); its size is checked on every use and a copy of the wrong size (an
 * interrupted disk, say) is rebuilt.
 */
import { createHash } from 'node:crypto';
import { accessSync, closeSync, constants, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatasetError } from './errors.js';

export const DATA_CACHE_ENV = 'STUDIO_DATA_CACHE';
const DEFAULT_FOLDER = 'quantization-studio-data-cache';

/** The cache folder, created if needed; throws a DatasetError naming it when it cannot be used. */
export function dataCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const given = env[DATA_CACHE_ENV];
  if (given !== undefined && given.trim() === '') {
    throw new DatasetError(`$${DATA_CACHE_ENV}`, 'is set but empty; set it to a folder for decompressed copies of compressed datasets, or unset it to use the OS temp folder');
  }
  const dir = path.resolve(given ?? path.join(os.tmpdir(), DEFAULT_FOLDER));
  try {
    mkdirSync(dir, { recursive: true });
    if (!statSync(dir).isDirectory()) throw new Error('not a folder');
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (e) {
    throw new DatasetError(dir, `cannot be used as the dataset cache folder (${(e as Error).message}); set $${DATA_CACHE_ENV} to a folder the studio can read and write`, { cause: e });
  }
  return dir;
}

function sourceKey(source: string, member: string): { stem: string; key: string } {
  const resolved = path.resolve(source);
  const info = statSync(resolved, { throwIfNoEntry: false });
  if (!info) throw new DatasetError(source, 'file not found');
  const stem = createHash('sha256').update(`${resolved}\n${member}`).digest('hex').slice(0, 16);
  const version = createHash('sha256').update(`${resolved}\n${member}\n${info.size}\n${info.mtimeMs}`).digest('hex').slice(0, 24);
  return { stem, key: `${stem}-${version}` };
}

/**
 * The path of the decompressed copy of `source` (`member` names what inside it,
 * '' for the whole file), written by `produce` when missing or of the wrong
 * size (`sizeFits` says which sizes are right). `produce` calls `write` with
 * successive chunks (their total is checked by `sizeFits` too); it throws
 * DatasetErrors naming the source for corrupt input (those of `write` name the
 * folder), which are passed on after the partial copy is removed.
 */
export function cachedCopy(source: string, member: string, sizeFits: (size: number) => boolean, produce: (write: (chunk: Uint8Array) => void) => void, env: NodeJS.ProcessEnv = process.env): string {
  const dir = dataCacheDir(env);
  const { stem, key } = sourceKey(source, member);
  const final = path.join(dir, `${key}.bin`);
  const existing = statSync(final, { throwIfNoEntry: false });
  if (existing && sizeFits(existing.size)) {
    try {
      accessSync(final, constants.R_OK);
      return final;
    } catch (e) {
      throw new DatasetError(final, `is the decompressed copy of ${source} but cannot be read (${(e as Error).message}); remove it or set $${DATA_CACHE_ENV} to another folder`, { cause: e });
    }
  }
  const tmp = path.join(dir, `${key}.${process.pid}.${Math.random().toString(36).slice(2)}.part`);
  let fd: number;
  try {
    fd = openSync(tmp, 'w');
  } catch (e) {
    throw new DatasetError(dir, `cannot be written as the dataset cache folder (${(e as Error).message}); set $${DATA_CACHE_ENV} to a folder the studio can write`, { cause: e });
  }
  let written = 0;
  try {
    try {
      produce((chunk) => {
        try {
          let at = 0;
          while (at < chunk.length) at += writeSync(fd, chunk, at, chunk.length - at);
        } catch (e) {
          throw new DatasetError(dir, `cannot hold the decompressed copy of ${source} (${(e as Error).message}); free some space or set $${DATA_CACHE_ENV} to another folder`, { cause: e });
        }
        written += chunk.length;
      });
    } finally {
      closeSync(fd);
    }
    if (!sizeFits(written)) {
      throw new DatasetError(member ? `${source}:${member}` : source, `decompresses to ${written} bytes, not the size its header declares; the file is truncated or corrupt`);
    }
    renameSync(tmp, final);
  } catch (e) {
    rmSync(tmp, { force: true });
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(dir, `cannot hold the decompressed copy of ${source} (${(e as Error).message}); free some space or set $${DATA_CACHE_ENV} to another folder`, { cause: e });
  }
  // Older copies of the same source and member (other size or mtime) are of no use now.
  for (const name of readdirSync(dir)) {
    if (name.startsWith(`${stem}-`) && name.endsWith('.bin') && name !== `${key}.bin`) rmSync(path.join(dir, name), { force: true });
  }
  return final;
}
