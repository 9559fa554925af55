/**
 * Decoding one PNG (pngjs) or JPEG (jpeg-js) file to 8-bit RGBA, told apart
 * by their magic bytes, not the file name. 16-bit PNGs are scaled to 8 bits by
 * pngjs; palette PNGs are expanded. `gray` says whether the file itself is
 * grayscale (PNG colour type; for JPEG, every pixel having R = G = B, which is
 * how jpeg-js returns one-component images).
 */
import { readFileSync } from 'node:fs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { DatasetError } from './errors.js';

export interface DecodedImage {
  width: number;
  height: number;
  /** width·height·4 bytes, RGBA. */
  rgba: Uint8Array;
  gray: boolean;
  kind: 'png' | 'jpeg';
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export function imageKind(bytes: Uint8Array): 'png' | 'jpeg' | null {
  if (PNG_MAGIC.every((b, i) => bytes[i] === b)) return 'png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}

/** jpeg-js's own guards, stated so errors can name them. */
const JPEG_LIMITS = { maxResolutionInMP: 100, maxMemoryUsageInMB: 1024 };

export function decodeImage(file: string, bytes: Uint8Array = readFileSync(file)): DecodedImage {
  const kind = imageKind(bytes);
  if (!kind) {
    const first = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new DatasetError(file, `is not a PNG or JPEG image (it starts with ${first || 'nothing'}); an image-folder dataset holds only PNG and JPEG files in its class folders`);
  }
  if (kind === 'png') {
    try {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { width: png.width, height: png.height, rgba: png.data, gray: !png.color, kind };
    } catch (e) {
      throw new DatasetError(file, `is not a valid PNG: ${(e as Error).message}`, { cause: e });
    }
  }
  let img: { width: number; height: number; data: Uint8Array };
  try {
    img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, ...JPEG_LIMITS });
  } catch (e) {
    throw new DatasetError(file, `is not a valid JPEG (or exceeds ${JPEG_LIMITS.maxResolutionInMP} megapixels / ${JPEG_LIMITS.maxMemoryUsageInMB} MB to decode): ${(e as Error).message}`, { cause: e });
  }
  let gray = true;
  for (let i = 0; i < img.data.length && gray; i += 4) gray = img.data[i] === img.data[i + 1] && img.data[i] === img.data[i + 2];
  return { width: img.width, height: img.height, rgba: img.data, gray, kind };
}

/**
 * The image as `channels` float planes, channels last: RGB drops alpha;
 * grayscale is ITU-R BT.601 luma 0.299 R + 0.587 G + 0.114 B (as PIL's "L").
 */
export function toChannels(img: DecodedImage, channels: 1 | 3): Float32Array {
  const n = img.width * img.height;
  const out = new Float32Array(n * channels);
  const px = img.rgba;
  for (let i = 0; i < n; i++) {
    if (channels === 3) {
      out[3 * i] = px[4 * i]!;
      out[3 * i + 1] = px[4 * i + 1]!;
      out[3 * i + 2] = px[4 * i + 2]!;
    } else {
      out[i] = 0.299 * px[4 * i]! + 0.587 * px[4 * i + 1]! + 0.114 * px[4 * i + 2]!;
    }
  }
  return out;
}
