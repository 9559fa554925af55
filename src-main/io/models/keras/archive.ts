/**
 * Streaming extraction of the entries the reader needs from a Keras 3
 * archive: config.json and metadata.json into memory (they are small), model.weights.h5 straight
 * into a file, so memory stays bounded whatever the size of the model. Keras
 * writes the entries stored (ZIP_STORED); deflated ones are inflated too.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Unzip, UnzipInflate } from 'fflate';
import { KerasModelError } from './errors.js';

export const CONFIG_ENTRY = 'config.json';
export const METADATA_ENTRY = 'metadata.json';
export const WEIGHTS_ENTRY = 'model.weights.h5';

export interface ArchiveContents {
  config?: Uint8Array;
  /** metadata.json (keras_version, date_saved), when the archive has it. */
  metadata?: Uint8Array;
  /** Whether model.weights.h5 was found (and written to the weights path). */
  weights: boolean;
  /** Every entry name, in archive order, for error messages. */
  names: string[];
}

export async function extractKerasArchive(file: string, weightsPath: string): Promise<ArchiveContents> {
  const out = await open(weightsPath, 'w');
  const names: string[] = [];
  const configChunks: Uint8Array[] = [];
  const metadataChunks: Uint8Array[] = [];
  const started = new Set<string>();
  const finished = new Set<string>();
  let failure: unknown;
  // Writes to the weights file are chained so they land in order.
  let writing: Promise<unknown> = Promise.resolve();

  const unzip = new Unzip((entry) => {
    names.push(entry.name);
    if (entry.name !== CONFIG_ENTRY && entry.name !== METADATA_ENTRY && entry.name !== WEIGHTS_ENTRY) return;
    started.add(entry.name);
    entry.ondata = (err, chunk, final) => {
      if (err) {
        failure ??= err;
        return;
      }
      if (entry.name === CONFIG_ENTRY) configChunks.push(chunk);
      else if (entry.name === METADATA_ENTRY) metadataChunks.push(chunk);
      else writing = writing.then(() => out.write(chunk));
      if (final) finished.add(entry.name);
    };
    try {
      entry.start();
    } catch (e) {
      failure ??= new Error(`entry ${entry.name} uses compression method ${entry.compression}, which cannot be read`, { cause: e });
    }
  });
  unzip.register(UnzipInflate);

  try {
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
      unzip.push(chunk as Uint8Array);
      if (failure) break;
      // Let queued writes drain so a large weights entry is not buffered whole.
      await writing;
    }
    if (!failure) unzip.push(new Uint8Array(0), true);
  } catch (e) {
    failure ??= e;
  }
  try {
    await writing;
  } catch (e) {
    failure ??= e;
  } finally {
    await out.close();
  }
  if (failure) throw new KerasModelError(file, `is not a readable zip archive (truncated or corrupt?): ${(failure as Error).message ?? String(failure)}`, { cause: failure });
  const cut = [...started].find((n) => !finished.has(n));
  if (cut) throw new KerasModelError(file, `the archive is truncated: entry ${cut} ends before its end`);
  return {
    ...(finished.has(CONFIG_ENTRY) ? { config: concat(configChunks) } : {}),
    ...(finished.has(METADATA_ENTRY) ? { metadata: concat(metadataChunks) } : {}),
    weights: finished.has(WEIGHTS_ENTRY),
    names,
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((s, p) => s + p.byteLength, 0);
  const outBuf = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    outBuf.set(p, at);
    at += p.byteLength;
  }
  return outBuf;
}
