/**
 * Reading files in bounded pieces, so a file of several GB is hashed, checked
 * or decoded without ever being held whole in memory.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { DatasetError } from './errors.js';

export const CHUNK_BYTES = 4 * 2 ** 20;

function open(file: string): number {
  try {
    return openSync(file, 'r');
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new DatasetError(file, missing ? 'file not found' : `cannot be read: ${(e as Error).message}`, { cause: e });
  }
}

/** Calls `each` with successive fresh chunks of the file (never reused, so consumers may keep them). */
export function forEachChunk(file: string, each: (chunk: Uint8Array) => void, chunkBytes = CHUNK_BYTES): number {
  const fd = open(file);
  let total = 0;
  try {
    for (;;) {
      const buf = new Uint8Array(chunkBytes);
      const n = readSync(fd, buf, 0, chunkBytes, null);
      if (n === 0) break;
      total += n;
      each(n === chunkBytes ? buf : buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return total;
}

/** Bytes [start, start+length) of the file (fewer at its end). */
export function readRange(file: string, start: number, length: number): Uint8Array {
  const fd = open(file);
  try {
    const buf = new Uint8Array(length);
    const n = readSync(fd, buf, 0, length, start);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

export function fileSize(file: string): number {
  const info = statSync(file, { throwIfNoEntry: false });
  if (!info) throw new DatasetError(file, 'file not found');
  return info.size;
}
