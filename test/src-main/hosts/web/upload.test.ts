// POST /api/upload on the real web host: bytes streamed into imports/<batch>/
// beside the database, behind the same token and origin checks as the API,
// then imported like any other file.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { dispatch } from '../../../../src-main/api/dispatch.js';
import type { ModelSummary } from '../../../../src-main/api/contract.js';
import { startWebHost, type WebHost } from '../../../../src-main/hosts/web/server.js';
import { libraryFolders } from '../../../../src-main/library/folders.js';
import { openStudio, type Studio } from '../../../../src-main/studio.js';
import { tempDir } from '../../../helpers/temp.js';
import { SAMPLE_SHARD, writeVariant } from '../../library/fixtures.js';

let studio: Studio;
let host: WebHost;
let cookie: string;
let imports: string;
let origin: string;

before(async () => {
  const dir = tempDir();
  const renderer = path.join(dir, 'renderer');
  mkdirSync(renderer);
  writeFileSync(path.join(renderer, 'index.html'), '<!doctype html><title>studio</title>');
  studio = await openStudio({ dbPath: path.join(dir, 'studio.sqlite'), host: 'web', backend: 'cpu', defaults: false });
  imports = libraryFolders(studio.store.path).imports;
  host = await startWebHost({ handlers: studio.handlers, events: studio.events, rendererDir: renderer, port: 0, importsDir: imports });
  const res = await fetch(host.openUrl, { redirect: 'manual' });
  cookie = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
  origin = host.url.replace(/\/$/, '');
});

after(async () => {
  await host.close();
  await studio.close();
});

function upload(batch: string, name: string, body: Uint8Array, headers: Record<string, string> = { cookie, origin }): Promise<Response> {
  const url = `${host.url}api/upload?batch=${encodeURIComponent(batch)}&name=${encodeURIComponent(name)}`;
  return fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream', ...headers } });
}

test('an uploaded model (model.json + shard in one batch) lands in imports/ byte for byte and imports by copy', async () => {
  const src = writeVariant(path.join(tempDir(), 'm'), 'uploaded_cnn');
  const json = readFileSync(src);
  const shard = readFileSync(SAMPLE_SHARD);
  const r1 = await upload('batch-aaaa01', 'group1-shard1of1.bin', shard);
  assert.equal(r1.status, 200);
  assert.deepEqual(await r1.json(), { path: path.join(imports, 'batch-aaaa01', 'group1-shard1of1.bin'), size: shard.length });
  const r2 = await upload('batch-aaaa01', 'model.json', json);
  const { path: stored } = (await r2.json()) as { path: string };
  assert.deepEqual(readFileSync(stored), json);
  assert.deepEqual(readdirSync(path.join(imports, 'batch-aaaa01')).sort(), ['group1-shard1of1.bin', 'model.json'], 'no .part file left');

  const r = await dispatch(studio.handlers, 'models.import', { path: stored, mode: 'copy' });
  assert.ok(r.ok, JSON.stringify(r));
  const model = r.output as ModelSummary;
  assert.equal(model.name, 'uploaded model');
  assert.ok(model.path!.startsWith(path.join(path.dirname(studio.store.path), 'models') + path.sep));
  assert.equal(existsSync(path.join(imports, 'batch-aaaa01')), false, 'the upload is gone once copied');
});

test('no token, a foreign origin, a bad name or batch, a second upload of one name: refused, nothing written', async () => {
  const bytes = new Uint8Array([1, 2, 3]);
  assert.equal((await upload('batch-bbbb02', 'a.bin', bytes, { origin })).status, 401);
  const foreign = await upload('batch-bbbb02', 'a.bin', bytes, { cookie, origin: 'http://evil.example' });
  assert.equal(foreign.status, 403);
  assert.match(((await foreign.json()) as { error: string }).error, /origin http:\/\/evil\.example not allowed/);
  for (const name of ['../escape.bin', '.hidden', 'a/b.bin', '']) {
    const r = await upload('batch-bbbb02', name, bytes);
    assert.equal(r.status, 400, name);
  }
  assert.equal((await upload('../../x', 'a.bin', bytes)).status, 400);
  assert.equal(existsSync(path.join(imports, 'batch-bbbb02')), false);

  assert.equal((await upload('batch-cccc03', 'a.bin', bytes)).status, 200);
  const twice = await upload('batch-cccc03', 'a.bin', new Uint8Array([9]));
  assert.equal(twice.status, 409);
  assert.deepEqual(readFileSync(path.join(imports, 'batch-cccc03', 'a.bin')), Buffer.from([1, 2, 3]));
  assert.equal(existsSync(path.join(path.dirname(imports), 'escape.bin')), false);
});

test('a GET or another path is not an upload', async () => {
  const get = await fetch(`${host.url}api/upload?batch=batch-dddd04&name=a.bin`, { headers: { cookie } });
  assert.equal(get.status, 404);
  const other = await fetch(`${host.url}upload`, { method: 'POST', body: 'x', headers: { cookie, origin } });
  assert.equal(other.status, 405);
});

test('an upload cut off halfway leaves no file and no .part behind', async () => {
  const url = new URL(`${host.url}api/upload?batch=batch-eeee05&name=big.bin`);
  await new Promise<void>((resolve) => {
    const req = request(url, { method: 'POST', headers: { cookie, origin, 'content-length': String(1 << 20) } });
    req.on('error', () => resolve());
    req.write(Buffer.alloc(64 * 1024, 7), () => setTimeout(() => req.destroy(), 50));
  });
  // The server notices the close asynchronously; poll until its cleanup ran.
  const dir = path.join(imports, 'batch-eeee05');
  for (let i = 0; i < 100 && existsSync(dir) && readdirSync(dir).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(existsSync(dir) ? readdirSync(dir) : [], []);
});
