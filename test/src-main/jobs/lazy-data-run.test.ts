/**
 * A run over a dataset read per batch (STUDIO_DATA_RESIDENT_MAX=0 makes even
 * a small one so) whose image stops decoding after it was imported: the batch
 * that reads it fails the run, the error names the image file and its sample
 * index, and nothing of the run is stored.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { PNG } from 'pngjs';
import { dispatch } from '../../../src-main/api/dispatch.js';
import { RESIDENT_MAX_ENV } from '../../../src-main/io/data/dataset.js';
import { openStudio, type Studio } from '../../../src-main/studio.js';
import { tempDir } from '../../helpers/temp.js';

let studio: Studio;
let dbPath: string;
const saved = process.env[RESIDENT_MAX_ENV];

async function call<T>(method: string, input: unknown): Promise<T> {
  const r = await dispatch(studio.handlers, method as never, input);
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.output as T;
}

before(async () => {
  // The engine's worker thread takes its environment when the studio starts it.
  process.env[RESIDENT_MAX_ENV] = '0';
  dbPath = path.join(tempDir(), 'studio.sqlite');
  studio = await openStudio({ dbPath, host: 'cli', backend: 'wasm' });
});

after(async () => {
  await studio.close();
  if (saved === undefined) delete process.env[RESIDENT_MAX_ENV];
  else process.env[RESIDENT_MAX_ENV] = saved;
});

test('an image that no longer decodes fails the run at the batch that reads it, naming it; nothing is stored', async () => {
  const dir = tempDir();
  const files: string[] = [];
  for (let i = 0; i < 24; i++) {
    const file = path.join(dir, i % 2 ? 'shirt' : 'shoe', `${String(i).padStart(2, '0')}.png`);
    mkdirSync(path.dirname(file), { recursive: true });
    const png = new PNG({ width: 28, height: 28 });
    for (let k = 0; k < 28 * 28; k++) png.data.set([(i * 9 + k) % 256, (i * 9 + k) % 256, (i * 9 + k) % 256, 255], 4 * k);
    writeFileSync(file, PNG.sync.write(png, { colorType: 0 }));
    files.push(file);
  }
  const model = await call<{ id: number }>('models.importBuiltin', { name: 'fashion_cnn' });
  const dataset = await call<{ id: number }>('datasets.import', { path: dir, name: 'pngs' });
  // Classes sort shirt, shoe; shirt/ holds 01, 03, 05, 07, …: shirt/07.png is sample 3.
  const broken = files[7]!;
  writeFileSync(broken, Buffer.from('not a png any more'));
  const run = await call<{ id: number }>('runs.start', { kind: 'ptq', config: { modelId: model.id, datasetId: dataset.id, calibration: { count: 24, seed: 0 }, eval: { count: 24, seed: 1 } } });
  await studio.runs.settled(run.id);
  const detail = await call<{ status: string; error: string | null; tensors: unknown[] }>('runs.get', { id: run.id });
  assert.equal(detail.status, 'failed');
  assert.ok(detail.error?.includes(`${broken}: is not a PNG or JPEG image`), detail.error ?? '');
  assert.ok(detail.error?.includes(`(sample 3 of ${dir})`), detail.error ?? '');
  assert.equal(detail.tensors.length, 0);
  const db = new Database(dbPath, { readonly: true });
  try {
    for (const table of ['run_tensors', 'histograms']) {
      const n = db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE run_id = ?`).get(run.id) as { n: number };
      assert.equal(n.n, 0, `${table} of the failed run`);
    }
  } finally {
    db.close();
  }
});
