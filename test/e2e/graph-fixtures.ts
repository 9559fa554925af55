// Real data and a real-size model for the graph view's browser tests and
// bench: Fashion-MNIST test images (Debian's dataset-fashion-mnist) padded
// from 28×28 to 32×32 and repeated on three channels, as keras.applications
// models at their smallest input take them, written as x.npy / y.npy; and a
// MobileNetV2 nested as transfer learning nests it, written as TF.js files.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { mobileNetV2, transferLearning } from '../../dist/test/helpers/applications/index.js';
import { writeLayersModelFiles } from '../../dist/src-main/io/models/tfjs-layers.js';
import { npyFile as npy } from '../../dist/test/helpers/npy.js';

export const FASHION_MNIST = '/usr/share/datasets/fashion-mnist';


/** The first `count` Fashion-MNIST test images as dir/x.npy (uint8 [count, 32, 32, 3]) and dir/y.npy (int64 labels). */
export function writeFashionMnist32(dir: string, count: number): string {
  const images = gunzipSync(readFileSync(path.join(FASHION_MNIST, 't10k-images-idx3-ubyte.gz')));
  const labels = gunzipSync(readFileSync(path.join(FASHION_MNIST, 't10k-labels-idx1-ubyte.gz')));
  // IDX headers: images 16 bytes (magic, count, rows, cols), labels 8 bytes (magic, count).
  const pixels = new Uint8Array(count * 32 * 32 * 3);
  for (let n = 0; n < count; n++) {
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const v = images[16 + n * 784 + y * 28 + x]!;
        const at = ((n * 32 + y + 2) * 32 + x + 2) * 3;
        pixels[at] = pixels[at + 1] = pixels[at + 2] = v;
      }
    }
  }
  const y = BigInt64Array.from(labels.subarray(8, 8 + count), (v) => BigInt(v));
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'x.npy'), npy('|u1', [count, 32, 32, 3], pixels));
  writeFileSync(path.join(dir, 'y.npy'), npy('<i8', [count], new Uint8Array(y.buffer)));
  return dir;
}

/** MobileNetV2 (alpha 0.35, 32 px, seeded: Keras's 155 layers and connections) under Sequential([base, pool, Dense(10)]), as model.json. */
export async function writeMobileNetV2(dir: string): Promise<string> {
  const base = mobileNetV2({ alpha: 0.35, inputSize: 32, includeTop: false, seed: 0 });
  const model = transferLearning(base, 10);
  const [modelJson] = await writeLayersModelFiles(model, dir);
  model.dispose();
  return modelJson!;
}
