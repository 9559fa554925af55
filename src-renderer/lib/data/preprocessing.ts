/**
 * The Import panel's dataset preprocessing fields (text as typed) turned into
 * the record datasets.import passes to the reader: scale, mean, std (one
 * number, or one per channel, comma-separated), channel order and image size.
 * Empty fields are left out so the reader's defaults apply; the reader checks
 * what the values mean (e.g. std > 0, channel counts).
 */
export interface PreprocessingFields {
  scale: string;
  mean: string;
  std: string;
  bgr: boolean;
  size: string;
}

export const EMPTY_PREPROCESSING: PreprocessingFields = { scale: '', mean: '', std: '', bgr: false, size: '' };

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** "1/255", "0.5", "-1e-3" -> a finite number, or null. */
export function parseNumberText(text: string): number | null {
  const t = text.trim();
  if (t === '') return null;
  const fraction = /^(-?[\d.]+(?:e-?\d+)?)\s*\/\s*([\d.]+(?:e-?\d+)?)$/i.exec(t);
  const value = fraction ? Number(fraction[1]) / Number(fraction[2]) : Number(t);
  return Number.isFinite(value) ? value : null;
}

export function parsePreprocessing(f: PreprocessingFields): Parsed<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  if (f.scale.trim() !== '') {
    const scale = parseNumberText(f.scale);
    if (scale === null) return { ok: false, error: `Scale must be a number such as 1/255 or 0.5, got "${f.scale.trim()}"` };
    out.scale = scale;
  }
  for (const key of ['mean', 'std'] as const) {
    const text = f[key].trim();
    if (text === '') continue;
    const values = text.split(/[,\s]+/).filter(Boolean).map(parseNumberText);
    if (values.some((v) => v === null)) return { ok: false, error: `${key === 'mean' ? 'Mean' : 'Std'} must be numbers separated by commas (one, or one per channel), got "${text}"` };
    out[key] = values as number[];
  }
  if (f.bgr) out.channelOrder = 'bgr';
  if (f.size.trim() !== '') {
    const m = /^(\d+)\s*[xX×]\s*(\d+)$/.exec(f.size.trim());
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) return { ok: false, error: `Image size must be HEIGHT×WIDTH such as 224x224, got "${f.size.trim()}"` };
    out.size = [Number(m[1]), Number(m[2])];
  }
  return { ok: true, value: out };
}

/** Extensions the model readers are known to take; anything else dropped is treated as data. */
const MODEL_EXTENSIONS = ['.json', '.h5', '.hdf5', '.keras'];

export function isModelFileName(name: string): boolean {
  const lower = name.toLowerCase();
  return MODEL_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

/** Of the files dropped together, the one to import as the model: model.json before other .json, else the first model file. */
export function pickModelFile<T extends { name: string }>(files: readonly T[]): T | null {
  const models = files.filter((f) => isModelFileName(f.name));
  return models.find((f) => f.name.toLowerCase() === 'model.json') ?? models.find((f) => !f.name.toLowerCase().endsWith('.json')) ?? models[0] ?? null;
}

/** "1.5 MB" style sizes for the progress line. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/**
 * A name for dataset files dropped together (they are uploaded into a folder
 * whose name means nothing): what their names share, e.g. "t10k" for
 * t10k-images-idx3-ubyte.gz + t10k-labels-idx1-ubyte.gz; else the first file's stem.
 */
export function droppedDatasetName(names: readonly string[]): string {
  const stem = (n: string) => n.replace(/(\.(gz|npz|npy|bin|zip|png|jpe?g))+$/i, '');
  if (names.length === 0) return 'dropped dataset';
  if (names.length === 1) return stem(names[0]!) || 'dropped dataset';
  let prefix = names[0]!;
  for (const n of names) while (!n.startsWith(prefix)) prefix = prefix.slice(0, -1);
  prefix = prefix.replace(/[-_. ]+$/, '');
  return prefix.length >= 2 ? prefix : `${stem(names[0]!)} and ${names.length - 1} more`;
}
