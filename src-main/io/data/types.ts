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

/**
 * Where a part's samples are, said so that another thread can open the same
 * samples itself (structured-cloneable): the dataset as the library stores it,
 * which part, and the resident limit it was loaded with.
 */
export interface PartSpec {
  ref: { name?: string; path: string; format: string; preprocessing: Record<string, unknown> };
  part: PartName;
  residentMaxBytes: number;
  /** Samples in the part, checked when the part is opened again. */
  count: number;
}

/**
 * A source of samples that is read per batch. Labels (one int32 a sample) are
 * held; samples are not: `read` fetches (from disk for large parts, see
 * dataset.ts RESIDENT_MAX_BYTES) and decodes just the samples asked for.
 */
export interface BatchSource {
  /** One class label per sample; its length is the number of samples. */
  labels: Int32Array;
  /** Values per sample (the product of inputShape). */
  sampleSize: number;
  /** Where the samples are (a file or folder), for error messages. */
  imagesFile?: string;
  /**
   * The samples at `idx` (each in 0..labels.length-1, repeats allowed), back to
   * back in the order given: idx.length·sampleSize float32 values, channels
   * last, preprocessing applied. A new array the caller owns. Throws a
   * DatasetError naming the file and the sample index when a sample cannot be
   * read (a truncated record, an image that does not decode, NaN in float data).
   */
  read(idx: Int32Array): Float32Array;
  /** How another thread opens the same samples; absent for samples that exist only in this thread's memory. */
  spec?: PartSpec;
}

export interface LoadedPart extends BatchSource {
  count: number;
  /** Files it came from, for error messages. */
  imagesFile: string;
  labelsFile: string;
  /** Whether the decoded samples are held in memory (small parts); false: every read goes to disk. */
  resident: boolean;
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
