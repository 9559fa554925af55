// The web host over real HTTP and WebSocket, in front of a real studio (SQLite
// file, engine worker): the token gate, the origin check, the API envelope.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import WebSocket from 'ws';
import { startWebHost, type WebHost } from '../../../../src-main/hosts/web/server.js';
import { openStudio, type Studio } from '../../../../src-main/studio.js';
import { tempDir } from '../../../helpers/temp.js';

let studio: Studio;
let host: WebHost;
let cookie: string;

before(async () => {
  const dir = tempDir();
  const renderer = path.join(dir, 'renderer');
  mkdirSync(renderer);
  writeFileSync(path.join(renderer, 'index.html'), '<!doctype html><title>studio</title>');
  writeFileSync(path.join(dir, 'secret.txt'), 'outside the renderer');
  studio = await openStudio({ dbPath: path.join(dir, 'studio.sqlite'), host: 'web', backend: 'cpu', defaults: false });
  host = await startWebHost({ handlers: studio.handlers, events: studio.events, rendererDir: renderer, port: 0 });
  const res = await fetch(host.openUrl, { redirect: 'manual' });
  cookie = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
});

after(async () => {
  await host.close();
  await studio.close();
});

test('the printed URL trades its token for an HttpOnly cookie and a clean URL', async () => {
  const res = await fetch(host.openUrl, { redirect: 'manual' });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get('location'), '/');
  assert.match(res.headers.get('set-cookie') ?? '', /HttpOnly; SameSite=Strict/);
  const page = await fetch(host.url, { headers: { cookie } });
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<title>studio<\/title>/);
});

test('no token or a wrong token is refused with a readable reason', async () => {
  const missing = await fetch(host.url);
  assert.equal(missing.status, 401);
  assert.match(await missing.text(), /missing token/);
  const wrong = await fetch(`${host.url}?token=nope`);
  assert.equal(wrong.status, 401);
  assert.match(await wrong.text(), /wrong token/);
});

test('files outside the renderer folder are never served', async () => {
  for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt']) {
    const res = await fetch(host.url.replace(/\/$/, '') + p, { headers: { cookie } });
    assert.equal(res.status, 404, p);
  }
});

test('it listens on 127.0.0.1 only', () => {
  assert.match(host.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
});

function connect(headers: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(host.url.replace('http', 'ws') + 'api', { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode} ${res.statusMessage}`)));
    ws.once('error', reject);
  });
}

function call(ws: WebSocket, id: number, method: string, input: unknown): Promise<any> {
  return new Promise((resolve) => {
    const onMessage = (data: WebSocket.RawData) => {
      const msg = JSON.parse(String(data));
      if (msg.type === 'result' && msg.id === id) {
        ws.off('message', onMessage);
        resolve(msg);
      }
    };
    ws.on('message', onMessage);
    ws.send(JSON.stringify({ type: 'call', id, method, input }));
  });
}

test('the API socket needs the token and this page as origin', async () => {
  await assert.rejects(connect({}), /401 missing or wrong token/);
  await assert.rejects(connect({ cookie, origin: 'http://evil.example' }), /401 origin http:\/\/evil.example not allowed/);
});

test('calls go through the contract: results, unknown methods, wrong types', async () => {
  const ws = await connect({ cookie, origin: host.url.replace(/\/$/, '') });
  const info = await call(ws, 1, 'app.info', {});
  assert.equal(info.ok, true);
  assert.equal(info.output.backend.name, 'cpu');
  assert.equal(info.output.host, 'web');
  const unknown = await call(ws, 2, 'runs.explode', {});
  assert.deepEqual(unknown.error, { code: 'unknown_method', message: 'unknown API method "runs.explode"' });
  const bad = await call(ws, 3, 'runs.get', { id: 'seven' });
  assert.equal(bad.error.code, 'invalid_input');
  assert.match(bad.error.message, /^runs\.get: id: /);
  const missing = await call(ws, 4, 'runs.get', { id: 99 });
  assert.deepEqual(missing.error, { code: 'not_found', message: 'run 99 does not exist' });
  ws.close();
});

test('a port already taken gives a clear error', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const port = (blocker.address() as { port: number }).port;
  await assert.rejects(
    startWebHost({ handlers: studio.handlers, events: studio.events, rendererDir: '/nonexistent', port }),
    new RegExp(`port ${port} on 127.0.0.1 is already in use`),
  );
  blocker.close();
});
