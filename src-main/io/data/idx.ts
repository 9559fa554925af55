/**
 * IDX files, the MNIST / Fashion-MNIST format: two zero bytes, a type byte, a
 * dimension count, that many big-endian uint32 sizes, then the values
 * big-endian in row-major order. Files may be gzipped; that is detected from
 * the gzip magic bytes (1f 8b), not the file name.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export type IdxType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  dims: number[];
  type: IdxType;
  data: IdxData;
}

export class IdxError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${problem}`, options);
    this.name = 'IdxError';
  }
}

const TYPES: Record<number, { type: IdxType; bytes: number }> = {
  0x08: { type: 'uint8', bytes: 1 },
  0x09: { type: 'int8', bytes: 1 },
  0x0b: { type: 'int16', bytes: 2 },
  0x0c: { type: 'int32', bytes: 4 },
  0x0d: { type: 'float32', bytes: 4 },
  0x0e: { type: 'float64', bytes: 8 },
};

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

export function readIdx(path: string): IdxArray {
  let raw: Uint8Array;
  try {
    raw = readFileSync(path);
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new IdxError(path, missing ? 'file not found' : `cannot be read: ${(e as Error).message}`, { cause: e });
  }
  if (isGzip(raw)) {
    try {
      raw = gunzipSync(raw);
    } catch (e) {
      throw new IdxError(path, `is gzip-compressed but does not decompress (${(e as Error).message}); the download may be truncated`, { cause: e });
    }
  }
  return parseIdx(raw, path);
}

export interface IdxHeader {
  dims: number[];
  type: IdxType;
  /** Bytes before the values (magic, type, dimension count, sizes). */
  headerBytes: number;
  /** Bytes of one value. */
  itemBytes: number;
}

/**
 * Parses an IDX header from the first bytes of the (decompressed) file and
 * checks it against the file's total size; `file` names the source in errors.
 * `head` needs at most 4 + 4·255 bytes.
 */
export function parseIdxHeader(head: Uint8Array, totalBytes: number, file: string): IdxHeader {
  const fail = (problem: string) => new IdxError(file, problem);
  if (totalBytes < 4 || head.length < 4) throw fail(`is ${totalBytes} bytes long, too short for an IDX header`);
  const magic = Array.from(head.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  const kind = TYPES[head[2]!];
  if (head[0] !== 0 || head[1] !== 0 || !kind) {
    throw fail(`is not an IDX file: magic bytes are ${magic}, expected 00 00 then a type (08 uint8, 09 int8, 0b int16, 0c int32, 0d float32, 0e float64) and a dimension count`);
  }
  const ndims = head[3]!;
  if (ndims === 0) throw fail('IDX header declares 0 dimensions');
  const headerBytes = 4 + 4 * ndims;
  if (totalBytes < headerBytes || head.length < headerBytes) throw fail(`is truncated: the header needs ${headerBytes} bytes but the file has ${totalBytes}`);
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const dims = Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = headerBytes + count * kind.bytes;
  if (totalBytes !== expected) {
    const what = totalBytes < expected ? 'is truncated' : 'has trailing bytes';
    throw fail(`${what}: dims ${dims.join('x')} of ${kind.type} need ${expected} bytes (header included) but the file has ${totalBytes}`);
  }
  return { dims, type: kind.type, headerBytes, itemBytes: kind.bytes };
}

/** Parses IDX bytes (already decompressed); `file` names the source in errors. */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  const h = parseIdxHeader(bytes, bytes.length, file);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { dims: h.dims, type: h.type, data: decode(view, h.headerBytes, (bytes.length - h.headerBytes) / h.itemBytes, h.type) };
}

/** Decodes big-endian IDX values (`bytes`, a whole number of them) into `out` from element `at`. */
export function decodeIdxValues(type: IdxType, bytes: Uint8Array, out: Float32Array | Float64Array, at: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (type) {
    case 'uint8':
      for (let i = 0; i < bytes.length; i++) out[at + i] = bytes[i]!;
      return;
    case 'int8':
      for (let i = 0; i < bytes.length; i++) out[at + i] = view.getInt8(i);
      return;
    case 'int16':
      for (let i = 0; i < bytes.length / 2; i++) out[at + i] = view.getInt16(2 * i, false);
      return;
    case 'int32':
      for (let i = 0; i < bytes.length / 4; i++) out[at + i] = view.getInt32(4 * i, false);
      return;
    case 'float32':
      for (let i = 0; i < bytes.length / 4; i++) out[at + i] = view.getFloat32(4 * i, false);
      return;
    case 'float64':
      for (let i = 0; i < bytes.length / 8; i++) out[at + i] = view.getFloat64(8 * i, false);
      return;
  }
}

function decode(view: DataView, offset: number, count: number, type: IdxType): IdxData {
  const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, count);
  switch (type) {
    case 'uint8':
      return bytes.slice();
    case 'int8':
      return new Int8Array(bytes.slice().buffer);
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(offset + 2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(offset + 8 * i, false);
      return out;
    }
  }
}

/** Encodes an IDX file (uncompressed), big-endian as the format requires. */
export function encodeIdx(array: IdxArray): Uint8Array {
  const code = Number(Object.entries(TYPES).find(([, t]) => t.type === array.type)![0]);
  const bytesPer = TYPES[code]!.bytes;
  const header = 4 + 4 * array.dims.length;
  const out = new Uint8Array(header + array.data.length * bytesPer);
  const view = new DataView(out.buffer);
  out[2] = code;
  out[3] = array.dims.length;
  array.dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const set: Record<IdxType, (i: number, v: number) => void> = {
    uint8: (i, v) => view.setUint8(header + i, v),
    int8: (i, v) => view.setInt8(header + i, v),
    int16: (i, v) => view.setInt16(header + 2 * i, v, false),
    int32: (i, v) => view.setInt32(header + 4 * i, v, false),
    float32: (i, v) => view.setFloat32(header + 4 * i, v, false),
    float64: (i, v) => view.setFloat64(header + 8 * i, v, false),
  };
  const write = set[array.type];
  array.data.forEach((v, i) => write(i, v));
  return out;
}
