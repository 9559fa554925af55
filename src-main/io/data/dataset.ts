/**
 * Image-classification datasets on disk: one reader per format, chosen by
 * what the path is (detectFormat), and what every run needs from them —
 * normalised samples per part, a check against the model's input, seeded
 * splits and batches.
 *
 *  - idx (idx-dataset.ts): MNIST / Fashion-MNIST IDX pairs, gzipped or not.
 *  - cifar10 (cifar10.ts): CIFAR-10 binary batches.
 *  - image-folder (image-folder.ts): one subfolder of PNG/JPEG images per class.
 *  - npy (npy-dataset.ts): x.npy + y.npy arrays; npz (npz-dataset.ts): an .npz archive.
 *
 * Preprocessing (preprocess.ts) maps a raw value v in channel c to
 * (v·scale + offset − mean[c]) / std[c], after an optional RGB→BGR swap.
 * Every problem is a DatasetError naming the file.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { cifar10Reader, looksLikeCifar } from './cifar10.js';
import { DatasetError } from './errors.js';
import { idxReader, looksLikeIdx } from './idx-dataset.js';
import { imageFolderReader, looksLikeImageFolder } from './image-folder.js';
import { npyReader } from './npy-dataset.js';
import { npzReader } from './npz-dataset.js';
import type { Preprocessing } from './preprocess.js';
import { DATASET_FORMATS, type DatasetDescription, type DatasetFormat, type DatasetReader, type LoadedPart, type PartName } from './types.js';

export { DatasetError };
export { resolvePreprocessing, preprocessInPlace, type Preprocessing, type ChannelOrder } from './preprocess.js';
export { datasetFiles } from './idx-dataset.js';
export { DATASET_FORMATS, type DatasetDescription, type DatasetFormat, type LoadedPart, type PartDescription, type PartName } from './types.js';

export interface LoadedDataset {
  name?: string;
  path: string;
  /** The format it was read as (absent in hand-built datasets). */
  format?: DatasetFormat;
  parts: Record<PartName, LoadedPart>;
  inputShape: number[];
  numClasses: number;
  /** Class names when the dataset names them. */
  classNames?: string[];
  preprocessing: Preprocessing;
  notes: string[];
}

export interface DatasetRef {
  name?: string;
  path: string;
  format: string;
  preprocessing: Record<string, unknown>;
}

/** The readers, one per format. */
const READERS: Record<DatasetFormat, DatasetReader> = {
  idx: idxReader,
  cifar10: cifar10Reader,
  'image-folder': imageFolderReader,
  npy: npyReader,
  npz: npzReader,
};

const EXPECTED =
  'IDX pairs (train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz], t10k-…), CIFAR-10 batches (data_batch_1.bin … test_batch.bin), ' +
  'NumPy arrays (x.npy + y.npy, x_train.npy + y_train.npy …, or an .npz archive), or one subfolder per class of PNG/JPEG images';

/** Which format a path holds, from its name (files) or its entries (folders). */
export function detectFormat(p: string): DatasetFormat {
  const info = statSync(p, { throwIfNoEntry: false });
  if (!info) throw new DatasetError(p, 'not found');
  if (info.isFile()) {
    const base = path.basename(p).toLowerCase();
    if (base.endsWith('.npz')) return 'npz';
    if (base.endsWith('.npy')) return 'npy';
    if (looksLikeCifar(true, p, []) || base.endsWith('.bin')) return 'cifar10';
    if (looksLikeIdx(p, true, [])) return 'idx';
    throw new DatasetError(p, `is not a dataset file the studio can tell apart by its name; give a folder or one of: ${EXPECTED}`);
  }
  const entries = readdirSync(p, { withFileTypes: true });
  const names = entries.map((e) => e.name);
  if (looksLikeIdx(p, false, names)) return 'idx';
  if (looksLikeCifar(false, p, names)) return 'cifar10';
  if (names.some((n) => /^x.*\.npy$/i.test(n))) return 'npy';
  if (looksLikeImageFolder(entries)) return 'image-folder';
  const npz = names.filter((n) => n.toLowerCase().endsWith('.npz'));
  const hint = npz.length ? ` (for an .npz archive give the file itself, e.g. ${path.join(p, npz[0]!)})` : '';
  throw new DatasetError(p, `holds no dataset: no IDX dataset, CIFAR-10 batches, x*.npy arrays or class subfolders; expected ${EXPECTED}${hint}`);
}

function readerFor(format: string, p: string): DatasetReader {
  const reader = READERS[format as DatasetFormat];
  if (!reader) throw new DatasetError(p, `dataset format ${format} is not supported (supported: ${DATASET_FORMATS.join(', ')})`);
  return reader;
}

/** Reads and checks a dataset; what the library records about it. */
export function describeDataset(p: string, preprocessing?: Record<string, unknown>): DatasetDescription {
  return READERS[detectFormat(p)].describe(p, preprocessing);
}

const cache = new Map<string, LoadedDataset>();

function cacheKey(ref: DatasetRef): string {
  const resolved = path.resolve(ref.path);
  const info = statSync(resolved, { throwIfNoEntry: false });
  return JSON.stringify([resolved, ref.format, info?.mtimeMs ?? 0, ref.preprocessing ?? {}]);
}

/** Loads (once per path, format and preprocessing in this process) and normalises a dataset. */
export function loadDataset(ref: DatasetRef): LoadedDataset {
  const reader = readerFor(ref.format, ref.path);
  const key = cacheKey(ref);
  const hit = cache.get(key);
  if (hit) return hit;
  const r = reader.load(ref.path, ref.preprocessing);
  const train = r.parts.train ?? r.parts.test!;
  const test = r.parts.test ?? r.parts.train!;
  const loaded: LoadedDataset = {
    ...(ref.name !== undefined ? { name: ref.name } : {}),
    path: ref.path,
    format: reader.format,
    parts: { train, test },
    inputShape: r.inputShape,
    numClasses: r.numClasses,
    ...(r.classNames ? { classNames: r.classNames } : {}),
    preprocessing: r.preprocessing,
    notes: r.notes,
  };
  cache.set(key, loaded);
  return loaded;
}

/** Forgets cached datasets (tests; freeing memory). */
export function clearDatasetCache(): void {
  cache.clear();
}

export interface FitCheck {
  /** The model wants another shape of the same values (e.g. [784] for [28,28,1]); makeBatches reshapes. */
  reshape: boolean;
  from: number[];
  to: number[];
}

const squeeze = (s: number[]) => s.filter((d) => d !== 1);

/**
 * Whether a model with this input shape (no batch axis) and number of outputs
 * can take the dataset. Reshaping is allowed when it keeps the element order:
 * to a flat vector (as Keras Flatten does) or when the shapes differ only by
 * axes of size 1. Throws a DatasetError giving both shapes otherwise.
 */
export function checkFitsModel(ds: Pick<LoadedDataset, 'inputShape' | 'numClasses' | 'path'>, inputShape: number[], numClasses: number): FitCheck {
  const from = ds.inputShape;
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const same = from.length === inputShape.length && from.every((d, i) => d === inputShape[i]);
  const fit: FitCheck = { reshape: !same, from, to: inputShape };
  if (!same) {
    const orderKept = inputShape.length === 1 || squeeze(from).join(',') === squeeze(inputShape).join(',');
    if (size(from) !== size(inputShape)) {
      throw new DatasetError(ds.path, `dataset images are [${from.join(',')}] (${size(from)} values) but the model expects inputs of shape [${inputShape.join(',')}] (${size(inputShape)} values)`);
    }
    if (!orderKept) {
      throw new DatasetError(ds.path, `dataset images are [${from.join(',')}] (channels last) but the model expects [${inputShape.join(',')}]; the sizes match but reshaping would scramble the layout`);
    }
  }
  if (numClasses < ds.numClasses) {
    throw new DatasetError(ds.path, `dataset has ${ds.numClasses} classes but the model outputs ${numClasses} scores; labels ${numClasses}..${ds.numClasses - 1} could never be predicted`);
  }
  return fit;
}

export { sampleSplit, makeBatches, mulberry32, shuffled, type Batch, type BatchSource, type Split } from './split.js';
