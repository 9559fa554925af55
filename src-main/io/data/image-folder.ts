/**
 * Image folders: one subfolder per class (class names sorted by code point
 * give the label ids 0, 1, …), PNG and JPEG files inside (subfolders of a
 * class folder count for that class). The root may instead hold `train/` and
 * `test/`, each with class folders; class ids then come from the sorted names
 * of both. Otherwise the one part serves as both train and test.
 *
 * Every image is decoded (image-decode.ts), converted to `channels` (1 or 3;
 * default: 1 if the first image is grayscale, else 3) and resized to `size`
 * [height, width] (default: the first image's size; then every image must
 * have it) by resize.ts. Hidden files (.DS_Store, ._x.png, Thumbs.db,
 * desktop.ini) are skipped with a note, as are loose files next to the class
 * folders; any other non-image file is an error naming it. Describing decodes
 * each image once, one at a time, and hashes relative paths and file bytes.
 * Loading lists the files (labels from their folders); a read decodes and
 * resizes the images of its batch only, and an image that does not decode is
 * an error naming the file and its sample index.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { DatasetError } from './errors.js';
import { decodeImage, toChannels, type DecodedImage } from './image-decode.js';
import { preprocessInPlace, resolvePreprocessing, type Preprocessing } from './preprocess.js';
import { resizeImage } from './resize.js';
import type { DatasetDescription, DatasetReader, LoadedPart, PartName, ReadDataset } from './types.js';

const MAX_SIDE = 4096;

interface FolderPart {
  name: PartName;
  dir: string;
  /** [file, class name] in reading order. */
  files: [string, string][];
}

interface FolderLayout {
  parts: FolderPart[];
  classNames: string[];
  notes: string[];
}

const isJunk = (name: string) => name.startsWith('.') || name === 'Thumbs.db' || name === 'desktop.ini';

function listDir(dir: string): { dirs: string[]; files: string[]; junk: string[] } {
  const dirs: string[] = [];
  const files: string[] = [];
  const junk: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (isJunk(e.name)) junk.push(path.join(dir, e.name));
    else if (e.isDirectory()) dirs.push(e.name);
    else files.push(e.name);
  }
  return { dirs: dirs.sort(), files: files.sort(), junk };
}

/** Files of one class folder, recursively, sorted; junk goes to `skipped`. */
function classFiles(dir: string, skipped: string[]): string[] {
  const { dirs, files, junk } = listDir(dir);
  skipped.push(...junk);
  return [...files.map((f) => path.join(dir, f)), ...dirs.flatMap((d) => classFiles(path.join(dir, d), skipped))];
}

export function looksLikeImageFolder(entries: { name: string; isDirectory(): boolean }[]): boolean {
  return entries.some((e) => e.isDirectory() && !isJunk(e.name));
}

function layout(root: string): FolderLayout {
  const info = statSync(root, { throwIfNoEntry: false });
  if (!info) throw new DatasetError(root, 'not found');
  if (!info.isDirectory()) throw new DatasetError(root, 'is a file; an image-folder dataset is a folder with one subfolder per class');
  const top = listDir(root);
  const split = top.dirs.length > 0 && top.dirs.every((d) => d === 'train' || d === 'test');
  const partDirs: [PartName, string][] = split ? top.dirs.map((d) => [d as PartName, path.join(root, d)]) : [['train', root]];
  const skipped: string[] = [...top.junk];
  const loose: string[] = [];
  const perPart: { name: PartName; dir: string; classes: Map<string, string[]> }[] = [];
  for (const [name, dir] of partDirs) {
    const level = split ? listDir(dir) : top;
    if (split) skipped.push(...level.junk);
    loose.push(...level.files.map((f) => path.join(dir, f)));
    if (level.dirs.length === 0) throw new DatasetError(dir, 'holds no class folders; an image-folder dataset has one subfolder per class, holding that class\'s PNG/JPEG images');
    const classes = new Map<string, string[]>();
    for (const c of level.dirs) {
      const files = classFiles(path.join(dir, c), skipped);
      if (files.length === 0) throw new DatasetError(path.join(dir, c), 'is an empty class folder; every class folder needs at least one image');
      classes.set(c, files);
    }
    perPart.push({ name, dir, classes });
  }
  const classNames = [...new Set(perPart.flatMap((q) => [...q.classes.keys()]))].sort();
  if (classNames.length < 2) throw new DatasetError(root, `holds only one class folder (${classNames[0]}); an image-folder dataset needs one subfolder per class, at least two`);
  if (classNames.length > 256) throw new DatasetError(root, `holds ${classNames.length} class folders; at most 256 classes are supported`);
  const notes: string[] = [];
  if (skipped.length) notes.push(`skipped ${skipped.length} hidden or system file${skipped.length === 1 ? '' : 's'} (${skipped.slice(0, 3).map((f) => path.relative(root, f)).join(', ')}${skipped.length > 3 ? ', …' : ''})`);
  if (loose.length) notes.push(`ignored ${loose.length} file${loose.length === 1 ? '' : 's'} outside the class folders (${loose.slice(0, 3).map((f) => path.relative(root, f)).join(', ')}${loose.length > 3 ? ', …' : ''})`);
  for (const q of perPart) {
    const absent = classNames.filter((c) => !q.classes.has(c));
    if (absent.length && perPart.length > 1) notes.push(`the ${q.name} part has no folder for class${absent.length === 1 ? '' : 'es'} ${absent.join(', ')}`);
  }
  if (perPart.length === 1) notes.push(`only the ${perPart[0]!.name} part exists; it serves as both train and test split`);
  const parts = perPart.map((q) => ({ name: q.name, dir: q.dir, files: [...q.classes.entries()].flatMap(([c, files]) => files.map((f): [string, string] => [f, c])) }));
  return { parts, classNames, notes };
}

function givenSize(p: Record<string, unknown> | undefined, root: string): [number, number] | undefined {
  const size = p?.['size'];
  if (size === undefined) return undefined;
  const ok = Array.isArray(size) && size.length === 2 && size.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_SIDE);
  if (!ok) throw new DatasetError(root, `preprocessing.size must be [height, width], integers from 1 to ${MAX_SIDE}, got ${JSON.stringify(size)}`);
  return [size[0], size[1]];
}

function givenChannels(p: Record<string, unknown> | undefined, root: string): 1 | 3 | undefined {
  const c = p?.['channels'];
  if (c === undefined) return undefined;
  if (c !== 1 && c !== 3) throw new DatasetError(root, `preprocessing.channels must be 1 (grayscale) or 3 (RGB), got ${JSON.stringify(c)}`);
  return c;
}

interface Read {
  layout: FolderLayout;
  preprocessing: Preprocessing;
  inputShape: number[];
  sha256: string;
  loaded: Partial<Record<PartName, LoadedPart>>;
}

interface Target {
  root: string;
  size: [number, number];
  channels: 1 | 3;
  sizeGiven: boolean;
  firstFile: string;
}

/** Decodes one image and checks its size against the first when no target size is given; throws naming the file. */
function decodeChecked(file: string, bytes: Uint8Array, t: Target): DecodedImage {
  const img = decodeImage(file, bytes);
  if (!t.sizeGiven && (img.height !== t.size[0] || img.width !== t.size[1])) {
    throw new DatasetError(file, `is ${img.height}x${img.width} (height x width) but ${path.relative(t.root, t.firstFile)} is ${t.size[0]}x${t.size[1]}; images of mixed sizes need a target size: set preprocessing.size to [height, width] (the model input)`);
  }
  return img;
}

/** A part that decodes (and resizes) the images of each batch only; errors name the image file and its sample index. */
function lazyPart(part: FolderPart, labels: Int32Array, t: Target, pre: Preprocessing): LoadedPart {
  const per = t.size[0] * t.size[1] * t.channels;
  const count = part.files.length;
  return {
    labels,
    count,
    sampleSize: per,
    imagesFile: part.dir,
    labelsFile: part.dir,
    resident: false,
    read(idx) {
      const out = new Float32Array(idx.length * per);
      for (let k = 0; k < idx.length; k++) {
        const i = idx[k]!;
        if (!(i >= 0 && i < count)) throw new DatasetError(part.dir, `sample index ${i} is outside the ${count} samples`);
        const file = part.files[i]![0];
        try {
          let bytes: Uint8Array;
          try {
            bytes = readFileSync(file);
          } catch (e) {
            throw new DatasetError(file, `cannot be read (${(e as Error).message})`, { cause: e });
          }
          const img = decodeChecked(file, bytes, t);
          out.set(resizeImage(toChannels(img, t.channels), img.height, img.width, t.channels, t.size[0], t.size[1]), k * per);
        } catch (e) {
          if (!(e instanceof DatasetError)) throw e;
          throw new DatasetError(e.file, `${e.problem} (sample ${i} of ${part.dir})`, { cause: e });
        }
      }
      preprocessInPlace(out, t.channels, pre);
      return out;
    },
  };
}

function read(root: string, given: Record<string, unknown> | undefined, load: boolean): Read {
  const lay = layout(root);
  let size = givenSize(given, root);
  let channels = givenChannels(given, root);
  const firstFile = lay.parts[0]!.files[0]![0];
  if (!size || !channels) {
    const first = decodeImage(firstFile);
    size ??= [first.height, first.width];
    channels ??= first.gray ? 1 : 3;
  }
  const target: Target = { root, size, channels, sizeGiven: given?.['size'] !== undefined, firstFile };
  const inputShape = [size[0], size[1], channels];
  const preprocessing = resolvePreprocessing({ ...given, size, channels }, true, root, channels);
  if (preprocessing.numClasses !== undefined && lay.classNames.length > preprocessing.numClasses) {
    throw new DatasetError(root, `holds ${lay.classNames.length} class folders, more than the ${preprocessing.numClasses} classes set in preprocessing.numClasses`);
  }
  const hash = load ? null : createHash('sha256');
  const loaded: Partial<Record<PartName, LoadedPart>> = {};
  for (const part of lay.parts) {
    const labels = Int32Array.from(part.files, ([, cls]) => lay.classNames.indexOf(cls));
    if (load) {
      loaded[part.name] = lazyPart(part, labels, target, preprocessing);
      continue;
    }
    // Describing decodes every image once, one at a time, and hashes the files.
    for (const [file] of part.files) {
      const bytes = readFileSync(file);
      hash!.update(`${path.relative(root, file).split(path.sep).join('/')}\n`).update(bytes);
      decodeChecked(file, bytes, target);
    }
  }
  return { layout: lay, preprocessing, inputShape, sha256: hash?.digest('hex') ?? '', loaded };
}

function describeFolder(root: string, given: Record<string, unknown> | undefined): DatasetDescription {
  const r = read(root, given, false);
  return {
    format: 'image-folder',
    count: r.layout.parts.reduce((s, q) => s + q.files.length, 0),
    inputShape: r.inputShape,
    numClasses: r.preprocessing.numClasses ?? r.layout.classNames.length,
    classNames: r.layout.classNames,
    sha256: r.sha256,
    preprocessing: r.preprocessing,
    parts: r.layout.parts.map((q) => ({ name: q.name, count: q.files.length, images: q.dir, labels: q.dir })),
    notes: r.layout.notes,
  };
}

function loadFolder(root: string, given: Record<string, unknown> | undefined): ReadDataset {
  const r = read(root, given, true);
  return { parts: r.loaded, inputShape: r.inputShape, numClasses: r.preprocessing.numClasses ?? r.layout.classNames.length, classNames: r.layout.classNames, preprocessing: r.preprocessing, notes: r.layout.notes };
}

export const imageFolderReader: DatasetReader = { format: 'image-folder', describe: describeFolder, load: loadFolder };
