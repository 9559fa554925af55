/**
 * An .npy file (numpy.lib.format 1.0) of `descr` ('|u1', '<i8', '<f4'…) and
 * `shape` holding `bytes`: magic, version, header length, the dict padded so
 * the values start at a multiple of 64.
 */
export function npyFile(descr: string, shape: number[], bytes: Uint8Array): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - 10 - 1, ' ') + '\n';
  const out = new Uint8Array(total + bytes.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, dict.length, true);
  out.set(new TextEncoder().encode(dict), 10);
  out.set(bytes, total);
  return out;
}
