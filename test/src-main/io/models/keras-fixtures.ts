/**
 * Test helpers for the Keras readers: the fixture paths, weights read straight
 * from HDF5 with h5wasm (no studio code in between, so they can serve as the
 * reference), and Keras 3 archives written the way Keras 3's saving_lib
 * writes them (config.json + metadata.json + model.weights.h5 in a zip).
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Zip, ZipDeflate, zipSync } from 'fflate';
import h5wasm from 'h5wasm/node';

// dist/test/src-main/io/models → the repository's test/fixtures/keras
const here = path.dirname(fileURLToPath(import.meta.url));
export const FIXTURES = path.resolve(here, '../../../../../test/fixtures/keras');
export const RESNET8_H5 = path.join(FIXTURES, 'mlcommons_tiny_resnet8.h5');
export const MLP_KERAS2 = path.join(FIXTURES, 'hls4ml_mlp_streaming.keras');
export const GRU_KERAS2 = path.join(FIXTURES, 'hls4ml_hostpipe_parallel_gru.keras');

export interface Array32 {
  shape: number[];
  values: Float32Array;
  /** Written as int64 (Keras's Normalization count) instead of float32. */
  int64?: boolean;
}

/** h5wasm create_dataset arguments for a weight: float32, or int64 when marked. */
export function datasetOf(name: string, v: Array32): { name: string; data: Float32Array | BigInt64Array; shape: number[]; dtype: string } {
  return v.int64
    ? { name, data: BigInt64Array.from(v.values, (x) => BigInt(Math.round(x))), shape: v.shape, dtype: '<q' }
    : { name, data: v.values, shape: v.shape, dtype: '<f' };
}

/** Datasets by their full HDF5 path, read with h5wasm alone. */
export async function readDatasets(file: string, paths: string[]): Promise<Map<string, Array32>> {
  await h5wasm.ready;
  const f = new h5wasm.File(file, 'r');
  try {
    const out = new Map<string, Array32>();
    for (const p of paths) {
      const ds = f.get(p);
      if (!(ds instanceof h5wasm.Dataset)) throw new Error(`${file}: no dataset ${p}`);
      out.set(p, { shape: ds.shape ?? [], values: Float32Array.from(ds.value as Float32Array) });
    }
    return out;
  } finally {
    f.close();
  }
}

/** One Keras 3 layer entry of config.json, as Keras 3 serialises it. */
export function keras3Layer(className: string, config: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const dtype = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
  const withDtype = className === 'InputLayer' ? config : { trainable: true, dtype, ...config };
  return { module: 'keras.layers', class_name: className, config: withDtype, registered_name: null, ...extra };
}

export function keras3Initializer(className: string): Record<string, unknown> {
  return { module: 'keras.initializers', class_name: className, config: className === 'Zeros' ? {} : { seed: null }, registered_name: null };
}

/** A __keras_tensor__ argument of a Keras 3 inbound node. */
export function kerasTensor(layer: string, shape: (number | null)[]): Record<string, unknown> {
  return { class_name: '__keras_tensor__', config: { shape, dtype: 'float32', keras_history: [layer, 0, 0] } };
}

export interface VarsGroup {
  /** Path under the file root, e.g. layers/dense_1. */
  key: string;
  /** Written as the vars group's `name` attribute when given (Keras ≥ 3.x writes it). */
  layerName?: string;
  vars: Array32[];
}

/**
 * How the zip is written: 'stored' as Keras does (Python's zipfile, ZIP_STORED),
 * 'streamed' deflated with data descriptors after each entry (sizes unknown up front).
 */
export type ZipStyle = 'stored' | 'streamed';

/** Writes a Keras 3 .keras archive; `entries` overrides or removes (null) archive entries. */
export async function writeKeras3Archive(
  file: string,
  config: unknown,
  groups: VarsGroup[],
  entries: Record<string, Uint8Array | null> = {},
  style: ZipStyle = 'stored',
): Promise<void> {
  await h5wasm.ready;
  const h5Path = `${file}.weights.h5`;
  const f = new h5wasm.File(h5Path, 'w');
  try {
    f.create_group('layers');
    f.create_group('vars');
    for (const g of groups) {
      const parts = g.key.split('/');
      let at = '';
      for (const part of parts) {
        at = at ? `${at}/${part}` : part;
        if (!f.get(at)) f.create_group(at);
      }
      const vars = f.create_group(`${g.key}/vars`);
      if (g.layerName !== undefined) vars.create_attribute('name', g.layerName);
      g.vars.forEach((v, i) => vars.create_dataset(datasetOf(String(i), v)));
    }
  } finally {
    f.close();
  }
  const weights = new Uint8Array(await readFile(h5Path));
  await rm(h5Path);
  const files: Record<string, Uint8Array> = {
    'metadata.json': new TextEncoder().encode(JSON.stringify({ keras_version: '3.6.0', date_saved: '2026-11-23@12:00:00' })),
    'config.json': new TextEncoder().encode(JSON.stringify(config)),
    'model.weights.h5': weights,
  };
  for (const [name, data] of Object.entries(entries)) {
    if (data === null) delete files[name];
    else files[name] = data;
  }
  await writeFile(file, style === 'stored' ? zipSync(files, { level: 0 }) : streamedZip(files));
}

function streamedZip(files: Record<string, Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = [];
  const zip = new Zip((err, chunk) => {
    if (err) throw err;
    parts.push(chunk);
  });
  for (const [name, data] of Object.entries(files)) {
    const entry = new ZipDeflate(name, { level: 6 });
    zip.add(entry);
    entry.push(data, true);
  }
  zip.end();
  return Buffer.concat(parts);
}

/** Deterministic pseudo-random numbers in [-1, 1) (a small LCG), for weights and inputs. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

export function randomArray(shape: number[], rand: () => number, scale = 1): Array32 {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, values: Float32Array.from({ length: n }, () => rand() * scale) };
}

export function keras3Dense(name: string, units: number, activation: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return keras3Layer(
    'Dense',
    {
      name,
      units,
      activation,
      use_bias: true,
      kernel_initializer: keras3Initializer('GlorotUniform'),
      bias_initializer: keras3Initializer('Zeros'),
      kernel_regularizer: null,
      bias_regularizer: null,
      kernel_constraint: null,
      bias_constraint: null,
      quantization_config: null,
      lora_rank: null,
    },
    extra,
  );
}

/** config.json of the hls4ml MLP (8 → fc1 4 → relu1 → fc2 2 → relu2) as Keras 3.14 saves a Sequential. */
export function keras3MlpConfig(): { config: { layers: Record<string, unknown>[] } & Record<string, unknown> } & Record<string, unknown> {
  return {
    module: 'keras',
    class_name: 'Sequential',
    config: {
      name: 'sequential_1',
      trainable: true,
      dtype: { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null, shared_object_id: 1 },
      layers: [
        keras3Layer('InputLayer', { batch_shape: [null, 8], dtype: 'float32', sparse: false, ragged: false, name: 'fc1_input', optional: false }),
        keras3Dense('fc1', 4, 'linear', { build_config: { input_shape: [null, 8] } }),
        keras3Layer('Activation', { name: 'relu1', activation: 'relu' }, { build_config: { input_shape: [null, 4] } }),
        keras3Dense('fc2', 2, 'linear', { build_config: { input_shape: [null, 4] } }),
        keras3Layer('Activation', { name: 'relu2', activation: 'relu' }, { build_config: { input_shape: [null, 2] } }),
      ],
      build_input_shape: [null, 8],
    },
    registered_name: null,
    build_config: { input_shape: [null, 8] },
    compile_config: {},
  };
}

/** The weights of the hls4ml MLP fixture: [fc1 kernel, fc1 bias, fc2 kernel, fc2 bias]. */
export async function mlpWeights(): Promise<Array32[]> {
  const paths = ['fc1/fc1/kernel:0', 'fc1/fc1/bias:0', 'fc2/fc2/kernel:0', 'fc2/fc2/bias:0'].map((p) => `model_weights/${p}`);
  const h5 = await readDatasets(MLP_KERAS2, paths);
  return paths.map((p) => h5.get(p)!);
}

/** The vars groups of the MLP as Keras 3.14 writes them (with the layer name attribute). */
export function mlpVarsGroups([k1, b1, k2, b2]: Array32[]): VarsGroup[] {
  return [
    { key: 'layers/dense', layerName: 'fc1', vars: [k1!, b1!] },
    { key: 'layers/activation', layerName: 'relu1', vars: [] },
    { key: 'layers/dense_1', layerName: 'fc2', vars: [k2!, b2!] },
    { key: 'layers/activation_1', layerName: 'relu2', vars: [] },
  ];
}
