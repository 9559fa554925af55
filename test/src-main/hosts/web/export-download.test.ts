// GET /api/exports/<id>/file on the real web host: a real PTQ run of the
// built-in fashion_cnn exported to ONNX (audited and verified in
// onnxruntime), then downloaded byte for byte behind the token; ids the
// store does not know, folders (tfjs) and files gone from disk are refused
// with their reason, and no path from the request is ever read.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { dispatch } from '../../../../src-main/api/dispatch.js';
import type { ExportRecord } from '../../../../src-main/api/contract.js';
import { startWebHost, type WebHost } from '../../../../src-main/hosts/web/server.js';
import { openStudio, type Studio } from '../../../../src-main/studio.js';
import { tempDir } from '../../../helpers/temp.js';

let studio: Studio;
let host: WebHost;
let cookie: string;
let runId: number;
let outDir: string;

async function call<T>(method: string, input: unknown): Promise<T> {
  const r = await dispatch(studio.handlers, method as never, input, { validateOutputs: true });
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.output as T;
}

before(async () => {
  const dir = tempDir();
  const renderer = path.join(dir, 'renderer');
  mkdirSync(renderer);
  writeFileSync(path.join(renderer, 'index.html'), '<!doctype html><title>studio</title>');
  studio = await openStudio({ dbPath: path.join(dir, 'studio.sqlite'), host: 'cli', backend: 'wasm' });
  const modelId = (await call<{ id: number }>('models.importBuiltin', { name: 'fashion_cnn' })).id;
  const datasetId = (await call<{ id: number; name: string }[]>('datasets.list', {})).find((d) => d.name === 'fashion-mnist-sample')!.id;
  const run = await call<{ id: number }>('runs.start', { kind: 'ptq', config: { modelId, datasetId, calibration: { count: 100, seed: 0 }, eval: { count: 200, seed: 1 } } });
  await studio.runs.settled(run.id);
  runId = run.id;
  outDir = tempDir('studio-download-');
  host = await startWebHost({ handlers: studio.handlers, events: studio.events, rendererDir: renderer, port: 0 });
  const res = await fetch(host.openUrl, { redirect: 'manual' });
  cookie = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
});

after(async () => {
  await host?.close();
  await studio?.close();
});

const get = (p: string, headers: Record<string, string> = { cookie }) => fetch(`${host.url}${p.replace(/^\//, '')}`, { headers });

test('an ONNX export downloads byte for byte, named after its file, with the sha256 the store recorded', async () => {
  const record = await call<ExportRecord>('exports.create', { runId, format: 'onnx', path: path.join(outDir, 'run.onnx') });
  const res = await get(`/api/exports/${record.id}/file`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-disposition'), 'attachment; filename="run.onnx"');
  assert.equal(res.headers.get('content-type'), 'application/octet-stream');
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(body.length, record.size);
  assert.deepEqual(body, readFileSync(record.path));
  assert.equal(createHash('sha256').update(body).digest('hex'), record.sha256);
  // exports.get answers the same record the list has.
  assert.deepEqual(await call<ExportRecord>('exports.get', { id: record.id }), (await call<ExportRecord[]>('exports.list', { runId })).find((e) => e.id === record.id));
});

test('no token: 401 before the store is asked', async () => {
  const res = await get('/api/exports/1/file', {});
  assert.equal(res.status, 401);
});

test('an id the store does not know is 404, naming it; a folder export (tfjs) is 409; a file gone from disk is 410', async () => {
  const missing = await get('/api/exports/99999/file');
  assert.equal(missing.status, 404);
  assert.match(await missing.text(), /export 99999 does not exist/);

  const tfjs = await call<ExportRecord>('exports.create', { runId, format: 'tfjs', path: path.join(outDir, 'tfjs-model') });
  const folder = await get(`/api/exports/${tfjs.id}/file`);
  assert.equal(folder.status, 409);
  assert.match(await folder.text(), /is a folder \(tfjs-model\)/);

  const gone = await call<ExportRecord>('exports.create', { runId, format: 'params', path: path.join(outDir, 'params.json') });
  rmSync(gone.path);
  const res = await get(`/api/exports/${gone.id}/file`);
  assert.equal(res.status, 410);
  assert.match(await res.text(), /gone from disk \(ENOENT\)/);
});

test('the path cannot be steered from the request: traversal and non-numeric ids fall through to the static files, never to the store', async () => {
  for (const p of ['/api/exports/1/../../etc/passwd', '/api/exports/%2e%2e/file', '/api/exports/-1/file', '/api/exports/1/file/x']) {
    const res = await get(p);
    assert.notEqual(res.status, 200, p);
    assert.doesNotMatch(await res.text(), /root:/, p);
  }
});

test('app.storeVersion moves when another connection commits, and not on this process own writes', async () => {
  const before = (await call<{ version: number }>('app.storeVersion', {})).version;
  await call('runs.rename', { id: runId, name: 'renamed_here' });
  assert.equal((await call<{ version: number }>('app.storeVersion', {})).version, before, 'own write');
  const { openStore } = await import('../../../../src-main/store/index.js');
  const other = openStore(studio.store.path);
  try {
    other.runs.rename(runId, 'renamed_by_the_cli');
  } finally {
    other.close();
  }
  assert.notEqual((await call<{ version: number }>('app.storeVersion', {})).version, before, 'another connection');
});

test('datasets.delete refuses a dataset runs use (naming it), deletes an unused one', async () => {
  const datasets = await call<{ id: number; name: string }[]>('datasets.list', {});
  const used = datasets.find((d) => d.name === 'fashion-mnist-sample')!;
  const r = await dispatch(studio.handlers, 'datasets.delete', { id: used.id });
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.error.code, 'conflict');
  assert.match(!r.ok ? r.error.message : '', /dataset “fashion-mnist-sample”: dataset \d+ is used by 1 run/);
  const unused = datasets.find((d) => d.id !== used.id);
  if (unused) {
    assert.deepEqual(await call('datasets.delete', { id: unused.id }), { deleted: true });
    assert.equal((await call<{ id: number }[]>('datasets.list', {})).some((d) => d.id === unused.id), false);
  }
  const none = await dispatch(studio.handlers, 'datasets.delete', { id: 99999 });
  assert.equal(!none.ok && none.error.code, 'not_found');
});
