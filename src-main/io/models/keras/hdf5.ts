/**
 * Reading HDF5 with h5wasm (the HDF5 C library compiled to wasm). Its node
 * build reads files straight from disk, so only the datasets asked for are
 * held in memory. HDF5 errors become KerasModelErrors naming the file.
 */
import { open } from 'node:fs/promises';
import type H5Wasm from 'h5wasm/node';
import type { WeightData } from '../../../engine/graph/types.js';
import { KerasModelError } from './errors.js';

type H5File = InstanceType<typeof H5Wasm.File>;
type H5Group = InstanceType<typeof H5Wasm.Group>;

/**
 * h5wasm compiles the HDF5 library when it is imported: loaded on the first
 * .h5 file, so a process that reads none (every run on a TF.js or built-in
 * model, the engine worker at start-up) does not pay for it.
 */
let h5wasm: typeof H5Wasm | undefined;

async function loadH5wasm(): Promise<typeof H5Wasm> {
  h5wasm ??= (await import('h5wasm/node')).default;
  return h5wasm;
}

/** The module, once a file has been opened (every reader starts with openHdf5). */
function opened(): typeof H5Wasm {
  if (!h5wasm) throw new Error('HDF5 is read only after openHdf5');
  return h5wasm;
}

export type { H5File, H5Group };

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
const ZIP_SIGNATURE = Buffer.from([0x50, 0x4b, 0x03, 0x04]);

/** What the file's first bytes say it is (Keras names both kinds .keras at times). */
export async function sniffContainer(file: string): Promise<'hdf5' | 'zip' | 'other'> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new KerasModelError(file, code === 'ENOENT' ? 'file not found' : `cannot be read: ${(e as Error).message}`, { cause: e });
  }
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await handle.read(head, 0, 8, 0);
    if (bytesRead === 8 && head.equals(HDF5_SIGNATURE)) return 'hdf5';
    if (bytesRead >= 4 && head.subarray(0, 4).equals(ZIP_SIGNATURE)) return 'zip';
    return 'other';
  } finally {
    await handle.close();
  }
}

let throwing = false;

/**
 * Opens an HDF5 file read-only; `shownAs` is the file named in errors. HDF5
 * errors are made to throw (with HDF5's own error stack) instead of being
 * printed to stderr and leaving an invalid handle.
 */
export async function openHdf5(path: string, shownAs: string): Promise<H5File> {
  const h5 = await loadH5wasm();
  const module = await h5.ready;
  if (!throwing) {
    module.activate_throwing_error_handler();
    throwing = true;
  }
  try {
    const f = new h5.File(path, 'r');
    if (!f.file_id || f.file_id < 0n) throw new Error('HDF5 could not open it');
    return f;
  } catch (e) {
    throw new KerasModelError(shownAs, `is not a readable HDF5 file: ${hdf5Problem(e)}`, { cause: e });
  }
}

/** Runs reads of an open file, turning HDF5's errors (corrupt metadata) into KerasModelErrors. */
export function readingHdf5<T>(file: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof KerasModelError || !String((e as Error)?.message ?? e).includes('HDF5')) throw e;
    throw new KerasModelError(file, `HDF5 data could not be read: ${hdf5Problem(e)}`, { cause: e });
  }
}

/** The innermost message of an HDF5 error stack, which says what is wrong ("truncated file: eof = …"). */
export function hdf5Problem(e: unknown): string {
  const text = String((e as Error)?.message ?? e);
  const reasons = [...text.matchAll(/#\d+: .* in [\w.]+\(\): (.*)$/gm)].map((m) => m[1]!.trim());
  const innermost = reasons.at(-1) ?? text.trim().split('\n')[0] ?? 'unknown error';
  const truncated = /truncated file: eof = (\d+).*stored_eof = (\d+)/.exec(innermost);
  if (truncated) return `it is truncated (${truncated[1]} bytes on disk, ${truncated[2]} expected)`;
  return `${innermost} (corrupt?)`;
}

export function isGroup(entity: unknown): entity is H5Group {
  return entity instanceof opened().Group;
}

/**
 * The entity at a relative path, or null when any part of it is missing
 * (asked of HDF5 directly, a missing intermediate group is an error).
 */
export function entityAt(group: H5Group, path: string): ReturnType<H5Group['get']> {
  let at: ReturnType<H5Group['get']> = group;
  for (const part of path.split('/').filter((p) => p !== '')) {
    if (!isGroup(at) || !at.keys().includes(part)) return null;
    at = at.get(part);
  }
  return at;
}

/** A string (or string list) attribute, or undefined when absent. */
export function stringAttr(group: H5Group, name: string): string | undefined {
  if (!(name in group.attrs)) return undefined;
  const value = group.attrs[name]!.value;
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  return undefined;
}

/** A string-list attribute (layer_names, weight_names); one string counts as a list of one. */
export function stringListAttr(group: H5Group, name: string): string[] | undefined {
  if (!(name in group.attrs)) return undefined;
  const value = group.attrs[name]!.value as unknown;
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  // An empty list is stored as an empty float array by h5py.
  if (ArrayBuffer.isView(value) && (value as Float64Array).length === 0) return [];
  return undefined;
}

/** A weight as read: float32 values; `integer` names the dataset's type when it held integers. */
export interface ReadWeight extends WeightData {
  /** E.g. '<q' (int64): the values are those integers as float32 (Keras's Normalization count). Absent for float data. */
  integer?: string;
}

/**
 * A dataset as float32: float ones (Keras may store float64 or float16
 * weights) and integer ones (marked `integer`: Keras's Normalization keeps
 * its count as int64, which tfjs holds as float32; the builder decides which
 * layers may have them).
 */
export function readWeight(group: H5Group, path: string, file: string): ReadWeight {
  let entity;
  try {
    entity = entityAt(group, path);
  } catch (e) {
    throw new KerasModelError(file, `weight ${path} could not be read: ${hdf5Problem(e)}`, { cause: e });
  }
  if (!(entity instanceof opened().Dataset)) throw new KerasModelError(file, `weight ${path} is missing`);
  const shape = entity.shape ?? [];
  let value;
  try {
    value = entity.value;
  } catch (e) {
    throw new KerasModelError(file, `weight ${path} could not be read: ${hdf5Problem(e)}`, { cause: e });
  }
  // h5wasm gives a scalar dataset (shape []: Normalization's count) as a plain number or bigint.
  if (typeof value === 'number' || typeof value === 'bigint') value = [value];
  const count = shape.reduce((a, b) => a * b, 1);
  const check = (values: Float32Array) => {
    if (values.length !== count) throw new KerasModelError(file, `weight ${path} holds ${values.length} values for shape [${shape.join(',')}]`);
    return values;
  };
  // HDF5 type class 0: integer (1: float).
  if (entity.metadata.type === 0 && (ArrayBuffer.isView(value) || Array.isArray(value))) {
    const values = check(Float32Array.from(value as ArrayLike<number | bigint>, (v) => Number(v)));
    return { shape: [...shape], values, integer: String(entity.dtype) };
  }
  if (Array.isArray(value) && value.every((v) => typeof v === 'number')) value = Float64Array.from(value as number[]);
  if (!(value instanceof Float32Array || value instanceof Float64Array || isFloat16Array(value))) {
    throw new KerasModelError(file, `weight ${path} has data type ${JSON.stringify(entity.dtype)}; only float and integer weights can be read`);
  }
  const values = check(value instanceof Float32Array ? value : Float32Array.from(value as ArrayLike<number>));
  return { shape: [...shape], values };
}

function isFloat16Array(value: unknown): boolean {
  return typeof value === 'object' && value !== null && value.constructor?.name === 'Float16Array';
}
