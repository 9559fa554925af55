// The web host's refusals, through the real server (HTTP and WebSocket in
// front of a real studio): a foreign Host header (DNS rebinding), uploads
// over the limit (declared by Content-Length, refused before the body is
// read; or counted while a chunked body streams), imports outside the
// uploads folder and the --import-dir folders (also through a symlink), and
// the security headers sent as HTTP headers.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import WebSocket from 'ws';
import { startWebHost, type WebHost } from '../../../../src-main/hosts/web/server.js';
import { openStudio, type Studio } from '../../../../src-main/studio.js';
import { tempDir } from '../../../helpers/temp.js';

let studio: Studio;
let host: WebHost;
let cookie: string;
let uploads: string;
let extra: string;
let outside: string;
const LIMIT = 1000;

before(async () => {
  const dir = tempDir();
  const renderer = path.join(dir, 'renderer');
  mkdirSync(renderer);
  writeFileSync(path.join(renderer, 'index.html'), '<!doctype html><title>studio</title>');
  uploads = path.join(dir, 'imports');
  extra = path.join(dir, 'allowed');
  outside = path.join(dir, 'private');
  mkdirSync(uploads);
  mkdirSync(extra);
  mkdirSync(outside);
  writeFileSync(path.join(outside, 'model.json'), '{}');
  studio = await openStudio({ dbPath: path.join(dir, 'studio.sqlite'), host: 'web', backend: 'cpu', defaults: false });
  host = await startWebHost({ handlers: studio.handlers, events: studio.events, rendererDir: renderer, port: 0, importsDir: uploads, importDirs: [extra], uploadLimit: LIMIT });
  const res = await fetch(host.openUrl, { redirect: 'manual' });
  cookie = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
});

after(async () => {
  await host.close();
  await studio.close();
});

/** A raw request, so Host and Transfer-Encoding are exactly as given. */
function request(opts: { method?: string; path?: string; headers?: Record<string, string>; body?: (req: http.ClientRequest) => void }): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: host.port, method: opts.method ?? 'GET', path: opts.path ?? '/', headers: opts.headers ?? {} }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    // The server may close while a refused body is still being sent (EPIPE): the answer it sent first is what counts.
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE' && e.code !== 'ECONNRESET') reject(e);
      else setTimeout(() => reject(new Error(`no answer before ${e.code}`)), 2000);
    });
    if (opts.body) opts.body(req);
    else req.end();
  });
}

test('a Host header other than 127.0.0.1/localhost with this port is refused (421), for pages and the API socket', async () => {
  for (const h of ['evil.example', `evil.example:${host.port}`, `127.0.0.1:${host.port + 1}`]) {
    const r = await request({ headers: { host: h, cookie } });
    assert.equal(r.status, 421, h);
    assert.match(r.text, /answers only to 127\.0\.0\.1:\d+ or localhost:\d+/);
  }
  assert.equal((await request({ headers: { host: `localhost:${host.port}`, cookie } })).status, 200);
  await assert.rejects(
    new Promise((resolve, reject) => {
      const ws = new WebSocket(host.url.replace('http', 'ws') + 'api', { headers: { cookie, host: `rebound.example:${host.port}` } });
      ws.once('open', resolve);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    }),
    /HTTP 421/,
  );
});

test('CSP, frame-ancestors, nosniff and the referrer policy are HTTP headers', async () => {
  const r = await request({ headers: { host: `127.0.0.1:${host.port}`, cookie } });
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-security-policy']), /default-src 'self'.*frame-ancestors 'none'/);
  assert.equal(r.headers['x-content-type-options'], 'nosniff');
  assert.equal(r.headers['x-frame-options'], 'DENY');
  assert.equal(r.headers['referrer-policy'], 'no-referrer');
});

test('an upload declared over the limit is refused before its body is sent, naming the limit', async () => {
  const r = await request({
    method: 'POST',
    path: '/api/upload?batch=bigbatch&name=big.bin',
    headers: { host: `127.0.0.1:${host.port}`, cookie, 'content-length': String(10 * LIMIT) },
    // Headers only: the answer must come without the body.
    body: (req) => req.flushHeaders(),
  });
  assert.equal(r.status, 413);
  assert.match(JSON.parse(r.text).error, new RegExp(`over the upload limit of ${LIMIT} bytes .*--upload-limit`));
  assert.equal(existsSync(path.join(uploads, 'bigbatch', 'big.bin')), false);
});

test('a chunked upload is counted as it streams and cut at the limit; nothing is kept', async () => {
  const r = await request({
    method: 'POST',
    path: '/api/upload?batch=chunked&name=big.bin',
    headers: { host: `127.0.0.1:${host.port}`, cookie, 'transfer-encoding': 'chunked' },
    body: (req) => {
      req.on('error', () => {});
      let sent = 0;
      const send = () => {
        if (sent >= 20) return req.end();
        sent++;
        if (req.write(Buffer.alloc(200))) setImmediate(send);
        else req.once('drain', send);
      };
      send();
    },
  });
  assert.equal(r.status, 413);
  assert.match(JSON.parse(r.text).error, new RegExp(`big\\.bin is over the upload limit of ${LIMIT} bytes`));
  assert.deepEqual(existsSync(path.join(uploads, 'chunked')) ? readdirSync(path.join(uploads, 'chunked')) : [], []);
  // Under the limit still works.
  const ok = await request({ method: 'POST', path: '/api/upload?batch=smallbatch&name=small.bin', headers: { host: `127.0.0.1:${host.port}`, cookie, 'content-length': '10' }, body: (req) => req.end(Buffer.alloc(10)) });
  assert.equal(ok.status, 200, ok.text);
});

function connect(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(host.url.replace('http', 'ws') + 'api', { headers: { cookie } });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function call(ws: WebSocket, id: number, method: string, input: unknown): Promise<{ ok: boolean; error?: { code: string; message: string } }> {
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

test('imports outside the uploads and --import-dir folders are refused without saying what is there', async () => {
  const ws = await connect();
  try {
    symlinkSync(outside, path.join(extra, 'link'));
    let id = 0;
    for (const [method, p] of [
      ['models.import', path.join(outside, 'model.json')],
      ['datasets.import', outside],
      ['datasets.import', '/etc/ssl/private'],
      ['models.import', path.join(extra, '..', 'private', 'model.json')],
      ['models.import', path.join(extra, 'link', 'model.json')],
      ['models.import', 'relative/model.json'],
    ] as const) {
      const input = method === 'models.import' ? { path: p, mode: 'copy' } : { path: p };
      const r = await call(ws, ++id, method, input);
      assert.equal(r.ok, false, p);
      assert.equal(r.error!.code, 'invalid_input', p);
      assert.equal(r.error!.message, `this web host imports only files inside ${uploads}, ${extra} (upload the file, or start it with studio serve --import-dir DIR)`, p);
    }
    // Inside an allowed folder the import runs, and its error names that path.
    const missing = path.join(extra, 'nope', 'model.json');
    const r = await call(ws, ++id, 'models.import', { path: missing, mode: 'copy' });
    assert.equal(r.ok, false);
    assert.ok(r.error!.message.includes(missing), r.error!.message);
    assert.ok(!r.error!.message.includes(outside), r.error!.message);
  } finally {
    ws.close();
  }
});
