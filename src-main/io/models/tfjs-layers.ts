/**
 * TensorFlow.js layers models on disk: model.json plus the weight shard files
 * its weightsManifest lists, relative to model.json's folder. tfjs's file://
 * handler lives in tfjs-node, which the app does not ship, so these use custom
 * tf.io handlers over node:fs. Every failure is a ModelReadError naming the
 * file and the problem, so the UI can show it as is.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { tf } from '../../engine/tfjs.js';
import { graphFromLayersModel, layersModelFromGraph, UnsupportedModelError } from '../../engine/graph/from-layers.js';
import type { Graph } from '../../engine/graph/types.js';
import { checkTopologyCallRefs, readTopologyOperations } from './keras/config.js';

export class ModelReadError extends Error {
  constructor(
    /** The file the problem is in (model.json or a weight shard). */
    readonly file: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${problem}`, options);
    this.name = 'ModelReadError';
  }
}

export const WEIGHTS_FILE = 'group1-shard1of1.bin';

/** Reads model.json (or a folder holding one) and its weights into a Graph. */
export async function readTfjsLayersModel(modelJsonPath: string): Promise<Graph> {
  const jsonPath = await resolveModelJson(modelJsonPath);
  const read = await readArtifacts(jsonPath);
  const fail = (problem: string) => new ModelReadError(jsonPath, problem);
  // A tf.keras model converted by tensorflowjs keeps its TFOpLambda layers (MobileNetV3's x + 3, · 1/6), which tfjs
  // cannot build: read as the Rescaling each computes, as the Keras readers do.
  const artifacts = { ...read, modelTopology: readTopologyOperations(read.modelTopology, fail) as tf.io.ModelArtifacts['modelTopology'] };
  // tfjs waits forever on an inbound node that names a call a layer does not have: refuse it first.
  checkTopologyCallRefs(artifacts.modelTopology, fail);
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel({ load: async () => artifacts });
  } catch (e) {
    const unknown = /Unknown layer: (\w+)/.exec(String((e as Error).message));
    if (unknown) {
      const layers = layersOfClass(artifacts.modelTopology, unknown[1]!);
      const which = layers.length > 0 ? `: layer${layers.length > 1 ? 's' : ''} ${layers.join(', ')}` : '';
      throw new ModelReadError(
        jsonPath,
        `unsupported layer class ${unknown[1]} (TensorFlow.js cannot build it)${which}. Replace ${layers.length > 1 ? 'them' : 'it'} with standard Keras layers in the model (or keep the model's float version), then convert it again`,
        { cause: e },
      );
    }
    throw new ModelReadError(jsonPath, `TensorFlow.js could not build the model: ${(e as Error).message}`, { cause: e });
  }
  try {
    return graphFromLayersModel(model);
  } catch (e) {
    if (e instanceof UnsupportedModelError) throw new ModelReadError(jsonPath, e.message, { cause: e });
    throw e;
  } finally {
    model.dispose();
  }
}

/** The path names (nested models' names joined with '/') of every layer of `className` in a tfjs-form topology. */
function layersOfClass(topology: unknown, className: string): string[] {
  const out: string[] = [];
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const walk = (model: unknown, prefix: string): void => {
    const layers = isObj(model) && isObj(model['config']) ? model['config']['layers'] : undefined;
    if (!Array.isArray(layers)) return;
    for (const l of layers) {
      if (!isObj(l)) continue;
      const name = String(l['name'] ?? (isObj(l['config']) ? l['config']['name'] : '') ?? '');
      if (l['class_name'] === className) out.push(`${prefix}${name}`);
      walk(l, `${prefix}${name}/`);
    }
  };
  walk(isObj(topology) && isObj(topology['model_config']) ? topology['model_config'] : topology, '');
  return out;
}

async function resolveModelJson(p: string): Promise<string> {
  const info = await stat(p).catch(() => null);
  if (!info) throw new ModelReadError(p, 'model.json not found');
  if (!info.isDirectory()) return p;
  const inside = path.join(p, 'model.json');
  if (!(await stat(inside).catch(() => null))) throw new ModelReadError(inside, 'model.json not found in this folder');
  return inside;
}

async function readArtifacts(jsonPath: string): Promise<tf.io.ModelArtifacts> {
  const text = await readFile(jsonPath, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ModelReadError(jsonPath, `is not valid JSON (${(e as Error).message})`, { cause: e });
  }
  const modelJson = checkModelJson(jsonPath, json);
  const dir = path.dirname(jsonPath);
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Uint8Array[] = [];
  for (const group of modelJson.weightsManifest) {
    const shards = await Promise.all(group.paths.map((p) => readShard(jsonPath, path.resolve(dir, p), p)));
    const actual = shards.reduce((sum, s) => sum + s.byteLength, 0);
    const expected = group.weights.reduce((sum, w) => sum + entryBytes(jsonPath, w), 0);
    if (actual !== expected) {
      const names = group.paths.join(', ');
      throw new ModelReadError(
        path.resolve(dir, group.paths[0]!),
        `weight shard${group.paths.length > 1 ? 's' : ''} ${names} hold${group.paths.length > 1 ? '' : 's'} ${actual} bytes but model.json describes ${expected} bytes for them (${group.weights.length} weights)`,
      );
    }
    weightSpecs.push(...group.weights);
    buffers.push(...shards);
  }
  return {
    modelTopology: modelJson.modelTopology,
    weightSpecs,
    weightData: concat(buffers),
    format: modelJson.format,
    generatedBy: modelJson.generatedBy,
    convertedBy: modelJson.convertedBy,
  };
}

function checkModelJson(jsonPath: string, json: unknown): tf.io.ModelJSON {
  const fail = (problem: string) => new ModelReadError(jsonPath, problem);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw fail('is not a TensorFlow.js model.json (expected a JSON object)');
  const obj = json as Record<string, unknown>;
  const topology = obj['modelTopology'] as Record<string, unknown> | undefined;
  if (typeof topology !== 'object' || topology === null) throw fail('has no modelTopology; it is not a TensorFlow.js model.json');
  if (obj['format'] === 'graph-model' || Array.isArray(topology['node'])) {
    throw fail('is a TensorFlow.js graph model (converted SavedModel or frozen graph); only layers models (tf.keras / tfjs-layers) can be read');
  }
  const manifest = obj['weightsManifest'];
  if (!Array.isArray(manifest)) throw fail('has no weightsManifest list');
  manifest.forEach((group: unknown, i) => {
    const g = group as Record<string, unknown> | null;
    if (!g || !Array.isArray(g['paths']) || !g['paths'].every((p) => typeof p === 'string') || !Array.isArray(g['weights'])) {
      throw fail(`weightsManifest entry ${i} needs a "paths" list of file names and a "weights" list`);
    }
  });
  return obj as unknown as tf.io.ModelJSON;
}

async function readShard(jsonPath: string, shardPath: string, listedAs: string): Promise<Uint8Array> {
  try {
    return await readFile(shardPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ModelReadError(shardPath, `weight shard ${listedAs} listed in ${path.basename(jsonPath)} is missing`, { cause: e });
    }
    throw new ModelReadError(shardPath, `weight shard ${listedAs} could not be read: ${(e as Error).message}`, { cause: e });
  }
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

/** Bytes a manifest entry takes in its shard (quantized weights are stored narrower). */
function entryBytes(jsonPath: string, w: tf.io.WeightsManifestEntry): number {
  const stored = w.quantization?.dtype ?? w.dtype;
  const bytes = DTYPE_BYTES[stored];
  if (!bytes || !Array.isArray(w.shape)) throw new ModelReadError(jsonPath, `weight ${w.name} has dtype ${stored} or shape ${JSON.stringify(w.shape)} that cannot be read`);
  return w.shape.reduce((a, b) => a * b, 1) * bytes;
}

function concat(parts: Uint8Array[]): ArrayBuffer {
  const total = parts.reduce((s, p) => s + p.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out.buffer;
}

/**
 * Writes the graph as a TensorFlow.js layers model: dir/model.json and one
 * weights file. Returns the paths written (model.json first).
 */
export async function writeTfjsLayersModel(graph: Graph, dir: string): Promise<string[]> {
  const model = layersModelFromGraph(graph);
  try {
    return await writeLayersModelFiles(model, dir);
  } finally {
    model.dispose();
  }
}

/** Saves any tfjs-layers model to dir as model.json + one weights file. */
export async function writeLayersModelFiles(model: tf.LayersModel, dir: string): Promise<string[]> {
  const jsonPath = path.join(dir, 'model.json');
  const weightsPath = path.join(dir, WEIGHTS_FILE);
  await mkdir(dir, { recursive: true });
  await model.save({
    save: async (artifacts) => {
      const data = artifacts.weightData ? tf.io.CompositeArrayBuffer.join(artifacts.weightData) : new ArrayBuffer(0);
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as {},
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_layers}`,
        convertedBy: 'Quantization Calibration Studio',
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
      };
      await writeFile(weightsPath, new Uint8Array(data));
      await writeFile(jsonPath, JSON.stringify(modelJson));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
  });
  return [jsonPath, weightsPath];
}
