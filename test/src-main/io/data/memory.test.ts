/**
 * Bounded memory: 400 images of 224x224x3 uint8 (60 MB on disk, 241 MB =
 * 230 MiB as float32) as an .npy file and as a gzipped IDX file, every batch
 * of 32 read in a child process (so its RSS is the reader's alone), whose RSS
 * must grow by well under the decoded size. Every value of every batch is
 * checked on the way against the image bytes read directly from x.npy (/255).
 * Files (and the data cache) go to temp dirs removed afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, createWriteStream, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { encodeIdx } from '../../../../src-main/io/data/idx.js';
import { tempDir } from '../../../helpers/temp.js';

const N = 400;
const H = 224;
const W = 224;
const C = 3;
const PER = H * W * C;
const BATCH = 32;
/** RSS growth allowed while reading every batch: the part is 230 MiB decoded, a batch 18.4 MiB. */
const MAX_GROWTH = 100 * 2 ** 20;

/** Image i, channels last: a pattern that differs per image, row, column and channel. */
function image(i: number): Uint8Array {
  const out = new Uint8Array(PER);
  for (let k = 0; k < PER; k++) out[k] = (i * 29 + k * 7 + (k >> 9)) & 255;
  return out;
}

function npyHeader(descr: string, shape: number[]): Uint8Array {
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - 10 - 1, ' ') + '\n';
  const out = new Uint8Array(total);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, dict.length, true);
  out.set(new TextEncoder().encode(dict), 10);
  return out;
}

/** An IDX header for [N, H, W, C] uint8 (encodeIdx of an empty array gives the header bytes). */
function idxHeader(): Uint8Array {
  const h = encodeIdx({ dims: [0, H, W, C], type: 'uint8', data: new Uint8Array(0) });
  new DataView(h.buffer).setUint32(4, N, false);
  return h;
}

async function writeFiles(dir: string): Promise<void> {
  const labels = Uint8Array.from({ length: N }, (_, i) => i % 10);
  // x.npy, written one image at a time.
  const fd = openSync(path.join(dir, 'x.npy'), 'w');
  writeSync(fd, npyHeader('|u1', [N, H, W, C]));
  for (let i = 0; i < N; i++) writeSync(fd, image(i));
  closeSync(fd);
  const y = openSync(path.join(dir, 'y.npy'), 'w');
  writeSync(y, npyHeader('|u1', [N]));
  writeSync(y, labels);
  closeSync(y);
  // The same images as a gzipped IDX pair, streamed through gzip.
  const idx = path.join(dir, 'idx');
  mkdirSync(idx);
  async function* chunks() {
    yield idxHeader();
    for (let i = 0; i < N; i++) yield image(i);
  }
  await pipeline(Readable.from(chunks()), createGzip({ level: 1 }), createWriteStream(path.join(idx, 'train-images-idx3-ubyte.gz')));
  const lab = encodeIdx({ dims: [N], type: 'uint8', data: labels });
  await pipeline(Readable.from([lab]), createGzip(), createWriteStream(path.join(idx, 'train-labels-idx1-ubyte.gz')));
}

const here = path.dirname(fileURLToPath(import.meta.url));
const datasetModule = pathToFileURL(path.resolve(here, '../../../../src-main/io/data/dataset.js')).href;
const splitModule = pathToFileURL(path.resolve(here, '../../../../src-main/io/data/split.js')).href;

/**
 * Runs in the child: loads both datasets (the .gz is decompressed to the data
 * cache then), then reads every batch of each, one format after the other,
 * sampling RSS around each batch. With `strict`, garbage is collected after
 * each batch (gc()), so RSS shows what is held rather than how lazily V8 frees
 * the batches already used; without, V8 collects when it will.
 */
const CHILD = `
import { readSync, openSync, closeSync } from 'node:fs';
import path from 'node:path';
const { loadDataset, sampleSplit } = await import(${JSON.stringify(datasetModule)});
const { makeRawBatches } = await import(${JSON.stringify(splitModule)});
const [dir, mode] = process.argv.slice(-2);
const strict = mode === 'strict';
const PER = ${PER}, N = ${N}, BATCH = ${BATCH};
const offset = ${npyHeader('|u1', [N, H, W, C]).length};
const idx = sampleSplit(N, N, 11);
const fd = openSync(path.join(dir, 'x.npy'), 'r');
const bytes = new Uint8Array(PER);
globalThis.gc();
const rss0 = process.memoryUsage().rss;
let rssMax = rss0;
const sample = () => (rssMax = Math.max(rssMax, process.memoryUsage().rss));
const started = performance.now();
const sets = [
  ['npy', loadDataset({ path: dir, format: 'npy', preprocessing: {} })],
  ['idx.gz', loadDataset({ path: path.join(dir, 'idx'), format: 'idx', preprocessing: {} })],
];
const result = { mode, loadGrowth: sample() - rss0, loadSeconds: (performance.now() - started) / 1000, formats: {} };
for (const [name, ds] of sets) {
  const part = ds.parts.train;
  globalThis.gc();
  const base = process.memoryUsage().rss;
  rssMax = base;
  let checked = 0, batches = 0;
  for (const b of makeRawBatches(part, idx, BATCH, [${H}, ${W}, ${C}])) {
    sample();
    for (let k = 0; k < b.size; k++) {
      const i = idx[batches * BATCH + k];
      if (b.ys[k] !== i % 10) throw new Error(name + ': label of sample ' + i);
      readSync(fd, bytes, 0, PER, offset + i * PER);
      for (let j = 0; j < PER; j++) {
        const want = Math.fround(bytes[j] * (1 / 255));
        if (b.xs[k * PER + j] !== want) throw new Error(name + ' sample ' + i + ' value ' + j + ': ' + b.xs[k * PER + j] + ' vs ' + want);
      }
      checked++;
    }
    batches++;
    if (strict) globalThis.gc();
    sample();
  }
  result.formats[name] = { resident: part.resident, batches, checked, growth: rssMax - base };
}
closeSync(fd);
result.growth = process.memoryUsage().rss - rss0;
result.seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify(result));
`;

interface Figures {
  mode: string;
  loadGrowth: number;
  loadSeconds: number;
  growth: number;
  seconds: number;
  formats: Record<string, { resident: boolean; batches: number; checked: number; growth: number }>;
}

function runChild(dir: string, cache: string, mode: 'strict' | 'natural'): Figures {
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', CHILD, dir, mode], {
    encoding: 'utf8',
    env: { ...process.env, STUDIO_DATA_CACHE: cache, STUDIO_DATA_RESIDENT_MAX: '' },
    maxBuffer: 1 << 20,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Figures;
}

const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

test('every batch of 32 of a 400 x 224x224x3 dataset (.npy and .idx.gz): RSS grows far less than the decoded part, values exact', async (t) => {
  const dir = tempDir('studio-memory-');
  const cache = tempDir('studio-memory-cache-');
  await writeFiles(dir);
  const decoded = N * PER * 4;
  for (const mode of ['strict', 'natural'] as const) {
    // The first run decompresses the .gz to the (empty) cache; the second reads the copy.
    const m = runChild(dir, cache, mode);
    const per = Object.entries(m.formats).map(([name, f]) => `${name} batches: RSS max growth ${mb(f.growth)}`).join('; ');
    t.diagnostic(`${mode} GC: decoded part ${mb(decoded)} per format; loading both: RSS +${mb(m.loadGrowth)} in ${m.loadSeconds.toFixed(2)} s; ${per}; all ${m.seconds.toFixed(2)} s`);
    for (const [name, f] of Object.entries(m.formats)) {
      assert.equal(f.resident, false, `${name}: read per batch`);
      assert.equal(f.batches, Math.ceil(N / BATCH));
      assert.equal(f.checked, N, `${name}: every value checked against the file's bytes`);
    }
    if (mode === 'strict') {
      // What is held: a batch or two (18.4 MiB each) and the reader's buffers, never the part.
      assert.ok(m.loadGrowth < MAX_GROWTH, `loading (gunzip to the cache included) grew RSS by ${mb(m.loadGrowth)}, more than ${mb(MAX_GROWTH)}`);
      for (const [name, f] of Object.entries(m.formats)) assert.ok(f.growth < MAX_GROWTH, `${name}: RSS grew by ${mb(f.growth)} over the batches, more than ${mb(MAX_GROWTH)} (the decoded part is ${mb(decoded)})`);
    } else {
      // V8 frees used batches when it will (after tens of MB of garbage), still well under one decoded part.
      for (const [name, f] of Object.entries(m.formats)) assert.ok(f.growth < 0.75 * decoded, `${name}: RSS grew by ${mb(f.growth)} with V8's own collection (the decoded part is ${mb(decoded)})`);
    }
  }
});
