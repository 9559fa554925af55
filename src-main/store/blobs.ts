/**
 * Typed arrays <-> BLOB bytes. Bytes are stored in the platform's order,
 * which is little-endian on every platform the studio ships for (x64, arm64).
 */

type TypedArray = Float32Array | Int32Array | Uint32Array;
type TypedArrayCtor<T extends TypedArray> = { new (length: number): T; readonly BYTES_PER_ELEMENT: number; readonly name: string };

/** A Buffer view of the array's own bytes (no copy; SQLite copies on bind). */
export function toBlob(array: TypedArray): Buffer {
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}

/**
 * Copies BLOB bytes into a fresh typed array. The Buffer better-sqlite3
 * returns may sit at any byteOffset of a shared pool, which a Float32Array
 * view cannot start at unless it is 4-byte aligned, so always copy.
 */
export function fromBlob<T extends TypedArray>(blob: Buffer | Uint8Array, Ctor: TypedArrayCtor<T>, what: string): T {
  if (blob.byteLength % Ctor.BYTES_PER_ELEMENT !== 0) {
    throw new Error(`stored ${what} has ${blob.byteLength} bytes, not a whole number of ${Ctor.name} elements`);
  }
  const out = new Ctor(blob.byteLength / Ctor.BYTES_PER_ELEMENT);
  new Uint8Array(out.buffer).set(blob);
  return out;
}
