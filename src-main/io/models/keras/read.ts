/**
 * Keras models on disk: Keras 2 HDF5 (.h5 / .hdf5, model.save) and Keras 3
 * archives (.keras: a zip of config.json, metadata.json and model.weights.h5).
 * What a file is comes from its first bytes, not its name: Keras 2.11 wrote
 * HDF5 files named .keras, for instance.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Graph } from '../../../engine/graph/types.js';
import { CONFIG_ENTRY, extractKerasArchive, WEIGHTS_ENTRY } from './archive.js';
import { graphFromKeras } from './build.js';
import { isKeras3Version, normaliseModelConfig } from './config.js';
import { KerasModelError } from './errors.js';
import { entityAt, isGroup, openHdf5, readingHdf5, sniffContainer, stringAttr, type H5File } from './hdf5.js';
import { readKeras2Weights, readKeras3Weights } from './weights.js';

export { KerasModelError } from './errors.js';

export async function readKerasModel(file: string): Promise<Graph> {
  const kind = await sniffContainer(file);
  if (kind === 'hdf5') return readKerasHdf5(file);
  if (kind === 'zip') return readKerasArchive(file);
  throw new KerasModelError(file, 'is neither an HDF5 file (Keras 2 .h5) nor a zip archive (Keras 3 .keras)');
}

async function readKerasHdf5(file: string): Promise<Graph> {
  const h5 = await openHdf5(file, file);
  try {
    const { model, weights } = readingHdf5(file, () => {
      const configText = stringAttr(h5, 'model_config');
      if (configText === undefined) throw new KerasModelError(file, weightsOnlyProblem(h5));
      // Keras 3 saves .h5 files too (the legacy format), with keras_version 3.x and Keras 3's activation names.
      const keras3 = isKeras3Version(stringAttr(h5, 'keras_version'), false);
      const model = normaliseModelConfig(parseJson(configText, file, 'its model_config attribute'), file, { keras3 });
      return { model, weights: readKeras2Weights(h5, model.layers, file) };
    });
    return await graphFromKeras(model, weights, file);
  } finally {
    h5.close();
  }
}

function weightsOnlyProblem(h5: H5File): string {
  // Keras 2 save_weights: layer_names on the root; Keras 3 .weights.h5: layers/ and vars/ groups.
  const weightsOnly = 'layer_names' in h5.attrs || isGroup(entityAt(h5, 'layers')) || isGroup(entityAt(h5, 'vars'));
  return weightsOnly
    ? 'holds only weights (saved with save_weights), not a model; save the whole model with model.save()'
    : 'is an HDF5 file without a model_config attribute; it is not a Keras model saved with model.save()';
}

async function readKerasArchive(file: string): Promise<Graph> {
  // h5wasm reads from the file system: the weights entry is extracted to a temporary file.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'keras-import-'));
  try {
    const weightsPath = path.join(dir, WEIGHTS_ENTRY);
    const contents = await extractKerasArchive(file, weightsPath);
    if (!contents.config) {
      throw new KerasModelError(file, `the archive has no ${CONFIG_ENTRY}; it is not a Keras 3 model (entries: ${contents.names.join(', ') || 'none'})`);
    }
    // Keras 2.13-2.15 wrote this archive format too; their metadata.json says so.
    const metadata = contents.metadata ? metadataVersion(contents.metadata) : undefined;
    const model = normaliseModelConfig(parseJson(Buffer.from(contents.config).toString('utf8'), file, CONFIG_ENTRY), file, { keras3: isKeras3Version(metadata, true) });
    if (!contents.weights) {
      const npz = contents.names.includes('model.weights.npz');
      throw new KerasModelError(file, npz ? 'weights are stored as model.weights.npz; only model.weights.h5 (the Keras default) can be read' : `the archive has no ${WEIGHTS_ENTRY}; the weights are missing`);
    }
    const shownAs = `${file} (${WEIGHTS_ENTRY})`;
    const h5 = await openHdf5(weightsPath, shownAs);
    try {
      const layerWeights = readingHdf5(shownAs, () => readKeras3Weights(h5, model.layers, shownAs));
      return await graphFromKeras(model, layerWeights, file);
    } finally {
      h5.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** metadata.json's keras_version, if it is readable JSON holding one. */
function metadataVersion(bytes: Uint8Array): unknown {
  try {
    const json = JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown;
    return typeof json === 'object' && json !== null ? (json as Record<string, unknown>)['keras_version'] : undefined;
  } catch {
    return undefined;
  }
}

function parseJson(text: string, file: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new KerasModelError(file, `${what} is not valid JSON (${(e as Error).message})`, { cause: e });
  }
}
