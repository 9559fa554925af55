/**
 * The members of a zip archive (an .npz) from its central directory, and
 * their bytes in chunks, so a loaded .npz reads what it needs by offset:
 * a stored member's values in place, a deflated one from its decompressed
 * copy (data-cache.ts). ZIP64 as numpy writes it (the ZIP64 end record and
 * the ZIP64 extra field) is understood. Errors are DatasetErrors naming the
 * archive (or `archive.npz:member`).
 */
import { crc32 } from 'node:zlib';
import { Inflate } from 'fflate';
import { DatasetError } from './errors.js';
import { fileSize, readRange } from './file-chunks.js';
import { INFLATE_STEP } from './sources.js';

export interface ZipMember {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  /** Where the member's (possibly compressed) bytes start in the archive. */
  dataOffset: number;
}

const u16 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);
const u32 = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
const u64 = (b: Uint8Array, at: number) => u32(b, at) + u32(b, at + 4) * 2 ** 32;

const MEMBER_CHUNK = 4 * 2 ** 20;

/** The archive's members, in central-directory order. */
export function zipMembers(file: string): ZipMember[] {
  const size = fileSize(file);
  const bad = (problem: string) => new DatasetError(file, `is not a readable .npz (zip) archive: ${problem}; it may be truncated or corrupt`);
  const tailLength = Math.min(size, 22 + 0xffff);
  const tailStart = size - tailLength;
  const tail = readRange(file, tailStart, tailLength);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (u32(tail, i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new DatasetError(file, 'is truncated: the zip end-of-central-directory record is missing, so the archive is incomplete');
  let entries = u16(tail, eocd + 10);
  let cdSize = u32(tail, eocd + 12);
  let cdOffset = u32(tail, eocd + 16);
  if (entries === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const locatorAt = tailStart + eocd - 20;
    const locator = locatorAt >= 0 ? readRange(file, locatorAt, 20) : new Uint8Array(0);
    if (locator.length !== 20 || u32(locator, 0) !== 0x07064b50) throw bad('the ZIP64 end-of-central-directory locator is missing');
    const record = readRange(file, u64(locator, 8), 56);
    if (record.length !== 56 || u32(record, 0) !== 0x06064b50) throw bad('the ZIP64 end-of-central-directory record is missing');
    entries = u64(record, 32);
    cdSize = u64(record, 40);
    cdOffset = u64(record, 48);
  }
  if (cdOffset + cdSize > size) throw bad(`the central directory (${cdSize} bytes at ${cdOffset}) runs past the end of the ${size}-byte file`);
  const cd = readRange(file, cdOffset, cdSize);
  const members: ZipMember[] = [];
  let at = 0;
  for (let n = 0; n < entries; n++) {
    if (at + 46 > cd.length || u32(cd, at) !== 0x02014b50) throw bad(`central directory entry ${n} is damaged`);
    const flags = u16(cd, at + 8);
    const method = u16(cd, at + 10);
    const crc = u32(cd, at + 16);
    let compressedSize = u32(cd, at + 20);
    let uncompressed = u32(cd, at + 24);
    const nameLength = u16(cd, at + 28);
    const extraLength = u16(cd, at + 30);
    const commentLength = u16(cd, at + 32);
    let localOffset = u32(cd, at + 42);
    const name = new TextDecoder(flags & 0x800 ? 'utf-8' : 'latin1').decode(cd.subarray(at + 46, at + 46 + nameLength));
    // ZIP64 extra field: the 64-bit values of the fields saturated at 0xffffffff, in this order.
    const extra = cd.subarray(at + 46 + nameLength, at + 46 + nameLength + extraLength);
    for (let e = 0; e + 4 <= extra.length; ) {
      const id = u16(extra, e);
      const len = u16(extra, e + 2);
      if (id === 0x0001) {
        let f = e + 4;
        if (uncompressed === 0xffffffff) (uncompressed = u64(extra, f)), (f += 8);
        if (compressedSize === 0xffffffff) (compressedSize = u64(extra, f)), (f += 8);
        if (localOffset === 0xffffffff) localOffset = u64(extra, f);
      }
      e += 4 + len;
    }
    at += 46 + nameLength + extraLength + commentLength;
    if (flags & 1) throw new DatasetError(`${file}:${name}`, 'is encrypted; the studio reads unencrypted .npz archives only');
    const local = readRange(file, localOffset, 30);
    if (local.length !== 30 || u32(local, 0) !== 0x04034b50) throw bad(`the local header of ${name} is missing`);
    const dataOffset = localOffset + 30 + u16(local, 26) + u16(local, 28);
    if (dataOffset + compressedSize > size) throw new DatasetError(`${file}:${name}`, `is truncated: its ${compressedSize} bytes at ${dataOffset} run past the end of the ${size}-byte archive`);
    members.push({ name, method, crc, compressedSize, size: uncompressed, dataOffset });
  }
  return members;
}

/** Calls `each` with the member's uncompressed bytes in chunks, checking size and CRC-32 at the end. */
export function forEachMemberChunk(file: string, m: ZipMember, each: (chunk: Uint8Array) => void): void {
  const where = `${file}:${m.name}`;
  if (m.method !== 0 && m.method !== 8) throw new DatasetError(where, `uses zip compression method ${m.method}; .npz members are stored (0) or deflated (8)`);
  let crc = 0;
  let size = 0;
  const out = (chunk: Uint8Array) => {
    crc = crc32(chunk, crc);
    size += chunk.length;
    each(chunk);
  };
  const inflate = m.method === 8 ? new Inflate((chunk) => out(chunk)) : null;
  try {
    for (let at = 0; at < m.compressedSize; at += MEMBER_CHUNK) {
      const chunk = readRange(file, m.dataOffset + at, Math.min(MEMBER_CHUNK, m.compressedSize - at));
      if (!inflate) {
        out(chunk);
        continue;
      }
      // Small pushes keep each decompressed piece small (fflate hands out all a push inflates at once).
      for (let k = 0; k < chunk.length; k += INFLATE_STEP) {
        inflate.push(chunk.subarray(k, k + INFLATE_STEP), at + Math.min(chunk.length, k + INFLATE_STEP) >= m.compressedSize);
      }
    }
    if (inflate && m.compressedSize === 0) inflate.push(new Uint8Array(0), true);
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(where, `does not decompress (${(e as Error).message}); the archive may be truncated or corrupt`, { cause: e });
  }
  if (size !== m.size || crc >>> 0 !== m.crc) {
    throw new DatasetError(where, `is corrupt: it holds ${size} bytes with CRC-32 ${(crc >>> 0).toString(16)} but the archive declares ${m.size} bytes with CRC-32 ${m.crc.toString(16)}`);
  }
}
