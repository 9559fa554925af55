/**
 * The shapes every dataset reader produces. dataset.ts re-exports them; the
 * readers (one file per format) import them from here to avoid an import cycle.
 */
import type { Preprocessing } from './preprocess.js';

export type PartName = 'train' | 'test';

export type DatasetFormat = 'idx' | 'cifar10' | 'image-folder' | 'npy' | 'npz';

export const DATASET_FORMATS: readonly DatasetFormat[] = ['idx', 'cifar10', 'image-folder', 'npy', 'npz'];

export interface PartDescription {
  name: PartName;
  count: number;
  /** Where the part's images are (a file, or a folder for multi-file parts); for error messages and the UI. */
  images: string;
  /** Where its labels are (the same file as images for CIFAR records and NPZ archives). */
  labels: string;
}

export interface DatasetDescription {
  format: DatasetFormat;
  /** Samples in all parts together. */
  count: number;
  /** One sample's shape, channels last: [28, 28, 1] for MNIST-like images. */
  inputShape: number[];
  numClasses: number;
  /** Class names when the dataset names them (CIFAR batches.meta.txt, image-folder subfolders). */
  classNames?: string[];
  /** SHA-256 over the content (each format says which bytes; file names of parts are included). */
  sha256: string;
  /** The preprocessing in effect, defaults filled in. */
  preprocessing: Preprocessing;
  parts: PartDescription[];
  notes: string[];
}

export interface LoadedPart {
  /** N·H·W·C values, normalised by the preprocessing. */
  images: Float32Array;
  labels: Int32Array;
  count: number;
  /** Values per sample (the product of inputShape). */
  sampleSize: number;
  /** Files it came from, for error messages. */
  imagesFile: string;
  labelsFile: string;
}

/** What a reader's load returns; dataset.ts turns it into a LoadedDataset. */
export interface ReadDataset {
  parts: Partial<Record<PartName, LoadedPart>>;
  inputShape: number[];
  numClasses: number;
  classNames?: string[];
  preprocessing: Preprocessing;
  notes: string[];
}

/** One format's reader. Both calls throw DatasetError naming the file at fault. */
export interface DatasetReader {
  format: DatasetFormat;
  describe(path: string, given: Record<string, unknown> | undefined): DatasetDescription;
  load(path: string, given: Record<string, unknown> | undefined): ReadDataset;
}
