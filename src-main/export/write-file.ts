/**
 * Writing export files safely: never over an existing path unless asked,
 * always to a temporary name in the destination folder first and renamed into
 * place, so a failure (disk full, permission) leaves no partial file behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { access, constants, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ExportError } from './errors.js';

export interface WriteOptions {
  /** Replace an existing file (or, for folder outputs, an existing folder). Default false. */
  overwrite?: boolean;
}

function why(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or folder';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOSPC':
      return 'the disk is full';
    case 'EROFS':
      return 'the file system is read-only';
    case 'EISDIR':
      return 'it is a folder';
    case 'ENOTDIR':
      return 'a part of the path is not a folder';
    default:
      return (e as Error).message;
  }
}

/**
 * Why the folder of `dest` cannot take a new file: ENOENT means "does not
 * exist" only when the folder really is missing; a folder that exists but
 * refuses new files (procfs, sysfs: ENOENT on create even as root) says so.
 */
function folderProblem(dest: string, e: unknown): string {
  const dir = path.dirname(dest);
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' && !existsSync(dir)) return `its folder ${dir} does not exist`;
  const detail = code === 'ENOENT' ? 'the file system there does not take new files' : why(e);
  return `the folder ${dir} cannot be written (${code ?? 'error'}: ${detail})`;
}

/**
 * Throws ExportError('exists') if `dest` exists and overwrite is off,
 * ('unwritable') if its folder cannot take files: checked by creating and
 * removing a probe file there, since access() says yes to root on read-only
 * pseudo file systems such as /proc.
 */
export async function checkDestination(dest: string, opts: WriteOptions = {}): Promise<void> {
  const info = await stat(dest).catch(() => null);
  if (info && !opts.overwrite) throw new ExportError(`${dest} already exists; choose another path or allow overwriting`, 'exists', { path: dest });
  const dir = path.dirname(dest);
  const probe = tempName(dest);
  try {
    const d = await stat(dir);
    if (!d.isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
    await access(dir, constants.W_OK);
    await writeFile(probe, '', { flag: 'wx' });
  } catch (e) {
    throw new ExportError(`cannot write ${dest}: ${folderProblem(dest, e)}`, 'unwritable', { path: dest }, { cause: e });
  }
  await rm(probe, { force: true }).catch(() => {});
}

function tempName(dest: string): string {
  return path.join(path.dirname(dest), `.${path.basename(dest)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Writes bytes to dest through a temporary file and a rename. */
export async function writeFileAtomic(dest: string, bytes: Uint8Array | string, opts: WriteOptions = {}): Promise<void> {
  await checkDestination(dest, opts);
  const tmp = tempName(dest);
  try {
    await writeFile(tmp, bytes, { flag: 'wx' });
    await rename(tmp, dest);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw new ExportError(`cannot write ${dest}: ${folderProblem(dest, e)}`, 'unwritable', { path: dest }, { cause: e });
  }
}

/** Writes several files into a new folder `dest`, built under a temporary name and renamed into place. */
export async function writeFolderAtomic(dest: string, files: Record<string, Uint8Array | string>, opts: WriteOptions = {}): Promise<void> {
  await checkDestination(dest, opts);
  const tmp = tempName(dest);
  try {
    await mkdir(tmp);
    for (const [name, data] of Object.entries(files)) await writeFile(path.join(tmp, name), data, { flag: 'wx' });
    if (opts.overwrite) await rm(dest, { recursive: true, force: true });
    await rename(tmp, dest);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw new ExportError(`cannot write ${dest}: ${folderProblem(dest, e)}`, 'unwritable', { path: dest }, { cause: e });
  }
}

/** Size and sha256 of a file, or of a folder's files (sizes summed, hashes over names and contents in name order). */
export async function fileDigest(p: string): Promise<{ size: number; sha256: string }> {
  const info = await stat(p);
  const hash = createHash('sha256');
  if (!info.isDirectory()) {
    const data = await readFile(p);
    hash.update(data);
    return { size: data.byteLength, sha256: hash.digest('hex') };
  }
  let size = 0;
  for (const name of (await readdir(p)).sort()) {
    const data = await readFile(path.join(p, name));
    hash.update(name).update(data);
    size += data.byteLength;
  }
  return { size, sha256: hash.digest('hex') };
}
