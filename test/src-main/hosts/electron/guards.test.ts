// The Electron host's security decisions (hosts/electron/guards.ts), as pure functions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { isAllowedExternalLink, isAllowedIpcSender, isRendererUrl } from '../../../../src-main/hosts/electron/guards.js';

const dir = path.resolve('/opt/studio/resources/dist/renderer');
const url = (p: string) => pathToFileURL(p).href;

test('navigation: files inside the renderer folder only; a sibling with the same prefix, .. and other schemes are refused', () => {
  assert.equal(isRendererUrl(url(path.join(dir, 'index.html')), dir), true);
  assert.equal(isRendererUrl(url(path.join(dir, 'assets', 'app.js')) + '#/runs/3', dir), true);
  assert.equal(isRendererUrl(url(dir + '-evil/index.html'), dir), false);
  assert.equal(isRendererUrl(url(dir) + '-evil/index.html', dir), false);
  assert.equal(isRendererUrl(url(dir) + '/../secret.html', dir), false);
  assert.equal(isRendererUrl(url(dir) + '/%2e%2e/secret.html', dir), false);
  assert.equal(isRendererUrl(url(dir), dir), false);
  assert.equal(isRendererUrl('https://evil.example/index.html', dir), false);
  assert.equal(isRendererUrl('file://evil.example' + dir + '/index.html', dir), false);
  assert.equal(isRendererUrl('not a url', dir), false);
});

test('IPC senders: only frames showing the renderer', () => {
  assert.equal(isAllowedIpcSender(url(path.join(dir, 'index.html')), dir), true);
  assert.equal(isAllowedIpcSender('https://evil.example/', dir), false);
  assert.equal(isAllowedIpcSender(url(dir + '-evil/index.html'), dir), false);
  assert.equal(isAllowedIpcSender('about:blank', dir), false);
  assert.equal(isAllowedIpcSender(null, dir), false);
  assert.equal(isAllowedIpcSender(undefined, dir), false);
});

test('external links: only https under an allow-listed prefix', () => {
  const allow = ['https://onnxruntime.ai/docs/', 'https://github.com/acme/studio/'];
  assert.equal(isAllowedExternalLink('https://onnxruntime.ai/docs/performance/quantization.html', allow), true);
  assert.equal(isAllowedExternalLink('https://github.com/acme/studio/issues/18', allow), true);
  assert.equal(isAllowedExternalLink('https://github.com/acme/studio-evil/', allow), false);
  assert.equal(isAllowedExternalLink('https://onnxruntime.ai.evil.example/docs/', allow), false);
  assert.equal(isAllowedExternalLink('https://onnxruntime.ai/docs/../../evil', allow), false);
  assert.equal(isAllowedExternalLink('https://user@onnxruntime.ai/docs/x', allow), false);
  assert.equal(isAllowedExternalLink('https://onnxruntime.ai:8443/docs/x', allow), false);
  assert.equal(isAllowedExternalLink('http://onnxruntime.ai/docs/x', allow), false);
  assert.equal(isAllowedExternalLink('file:///etc/passwd', allow), false);
  assert.equal(isAllowedExternalLink('javascript:alert(1)', allow), false);
  assert.equal(isAllowedExternalLink('https://evil.example/', allow), false);
  // The default list holds only https prefixes ending in '/'.
  assert.equal(isAllowedExternalLink('https://onnxruntime.ai/docs/'), true);
  assert.equal(isAllowedExternalLink('https://example.com/'), false);
});
