import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  apiSocketUrl,
  backoffDelay,
  describeClose,
  encodeCall,
  isStudioBridge,
  parseServerMessage,
  selectTransport,
} from '../../../../src-renderer/lib/data/protocol.js';

const bridge = { host: 'electron', methods: {}, onEvent: () => () => {} };

test('the Electron bridge wins when the preload put one on window', () => {
  const choice = selectTransport({ studio: bridge, location: { protocol: 'file:', host: '' } });
  assert.equal(choice.kind, 'bridge');
});

test('in a browser the socket is on the page origin at /api', () => {
  assert.deepEqual(selectTransport({ studio: undefined, location: { protocol: 'http:', host: '127.0.0.1:5173' } }), {
    kind: 'socket',
    url: 'ws://127.0.0.1:5173/api',
  });
  assert.equal(apiSocketUrl({ protocol: 'https:', host: 'studio.local' }), 'wss://studio.local/api');
});

test('file:// without a bridge has no host, and says how to start one', () => {
  const choice = selectTransport({ studio: undefined, location: { protocol: 'file:', host: '' } });
  assert.equal(choice.kind, 'none');
  assert.match(choice.kind === 'none' ? choice.reason : '', /npm start/);
});

test('something else on window.studio is not taken for the bridge', () => {
  assert.equal(isStudioBridge({ host: 'web', methods: {}, onEvent() {} }), false);
  assert.equal(isStudioBridge({ host: 'electron', methods: {} }), false);
  assert.equal(isStudioBridge(null), false);
  assert.equal(isStudioBridge(bridge), true);
  const choice = selectTransport({ studio: { host: 'electron' }, location: { protocol: 'http:', host: '127.0.0.1:1' } });
  assert.equal(choice.kind, 'socket');
});

test('backoff doubles from the base up to the cap, minus up to the jitter', () => {
  const opts = { baseMs: 500, maxMs: 10_000, jitter: 0.2 };
  const noJitter = () => 0;
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 50].map((n) => backoffDelay(n, opts, noJitter)),
    [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000],
  );
  assert.equal(backoffDelay(1, opts, () => 1), 400);
  assert.equal(backoffDelay(0, opts, noJitter), 500);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(3, opts);
    assert.ok(d >= 1600 && d <= 2000, String(d));
  }
});

test('results and events parse; the envelope is kept whole', () => {
  assert.deepEqual(parseServerMessage('{"type":"result","id":3,"ok":true,"output":[1]}'), {
    type: 'result',
    id: 3,
    result: { ok: true, output: [1] },
  });
  assert.deepEqual(parseServerMessage('{"type":"result","id":4,"ok":false,"error":{"code":"not_found","message":"no model 9"}}'), {
    type: 'result',
    id: 4,
    result: { ok: false, error: { code: 'not_found', message: 'no model 9' } },
  });
  assert.deepEqual(parseServerMessage('{"type":"event","event":"runs.changed","payload":{"id":1,"status":"done"}}'), {
    type: 'event',
    event: 'runs.changed',
    payload: { id: 1, status: 'done' },
  });
});

test('a malformed error still becomes a readable failure', () => {
  const m = parseServerMessage('{"type":"result","id":5,"ok":false,"error":{"code":"weird"}}');
  assert.equal(m.type, 'result');
  assert.deepEqual(m.type === 'result' ? m.result : null, {
    ok: false,
    error: { code: 'failed', message: 'the host reported an error without a message' },
  });
});

test('unreadable frames are reported, never thrown', () => {
  assert.equal(parseServerMessage('not json').type, 'invalid');
  assert.equal(parseServerMessage('42').type, 'invalid');
  assert.equal(parseServerMessage('{"type":"result","ok":true}').type, 'invalid');
  assert.equal(parseServerMessage('{"type":"result","id":1}').type, 'invalid');
  assert.equal(parseServerMessage('{"type":"hello"}').type, 'invalid');
  assert.equal(parseServerMessage('{"type":"event"}').type, 'invalid');
  assert.equal(parseServerMessage(new Uint8Array([1])).type, 'invalid');
});

test('calls encode as the web host expects them', () => {
  assert.deepEqual(JSON.parse(encodeCall(7, 'models.get', { id: 2 })), { type: 'call', id: 7, method: 'models.get', input: { id: 2 } });
  assert.deepEqual(JSON.parse(encodeCall(8, 'runs.list', undefined)).input, {});
});

test('close reasons say what happened', () => {
  assert.match(describeClose(1006, '', false), /could not reach the studio host.*token/);
  assert.match(describeClose(1006, '', true), /lost \(code 1006\)/);
  assert.match(describeClose(1001, 'bye', true), /shutting down \(code 1001: bye\)/);
});
