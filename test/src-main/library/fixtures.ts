/**
 * Model files for the import tests: the bundled sample (a tfjs model.json
 * plus one weight shard) and byte-different variants of it written to temp
 * folders, so each test can import content the store has not seen.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
export const SAMPLE_DIR = path.join(root, 'assets', 'sample', 'models', 'fashion_cnn');
export const SAMPLE_MODEL = path.join(SAMPLE_DIR, 'model.json');
export const SAMPLE_SHARD = path.join(SAMPLE_DIR, 'group1-shard1of1.bin');
export const SAMPLE_DATA = path.join(root, 'assets', 'sample', 'fashion-mnist');

/**
 * The sample with its model name changed: same network and weights, other
 * bytes. `shard` can replace the weight file's bytes (e.g. truncated).
 */
export function writeVariant(dir: string, modelName: string, opts: { shard?: Uint8Array; withShard?: boolean } = {}): string {
  mkdirSync(dir, { recursive: true });
  const json = JSON.parse(readFileSync(SAMPLE_MODEL, 'utf8')) as { modelTopology: { config: { name: string } } };
  json.modelTopology.config.name = modelName;
  const file = path.join(dir, 'model.json');
  writeFileSync(file, JSON.stringify(json));
  if (opts.withShard !== false) {
    if (opts.shard) writeFileSync(path.join(dir, 'group1-shard1of1.bin'), opts.shard);
    else copyFileSync(SAMPLE_SHARD, path.join(dir, 'group1-shard1of1.bin'));
  }
  return file;
}

/** sha256 over the files' bytes in order, as `cat FILES | sha256sum` prints it. */
export function sha256Of(...files: string[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(readFileSync(f));
  return h.digest('hex');
}
