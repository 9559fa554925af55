// The application menu: no developer tools in a packaged build, the recent models in File.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MenuItemConstructorOptions } from 'electron';
import { menuTemplate, QUANTIZATION_DOCS } from '../../../../src-main/hosts/electron/menu.js';
import { isAllowedExternalLink } from '../../../../src-main/hosts/electron/guards.js';

function flatten(items: MenuItemConstructorOptions[]): MenuItemConstructorOptions[] {
  return items.flatMap((i) => [i, ...(Array.isArray(i.submenu) ? flatten(i.submenu) : [])]);
}

function make(packaged: boolean, recent: string[] = []) {
  const clicked: string[] = [];
  const template = menuTemplate({
    packaged,
    platform: 'linux',
    recent,
    actions: { openModel: () => clicked.push('open'), openRecent: (f) => clicked.push(`recent ${f}`), clearRecent: () => clicked.push('clear'), openDocs: (u) => clicked.push(`docs ${u}`) },
  });
  return { items: flatten(template), clicked };
}

test('developer tools only in an unpackaged build', () => {
  assert.equal(make(true).items.filter((i) => i.role === 'toggleDevTools').length, 0);
  assert.equal(make(false).items.filter((i) => i.role === 'toggleDevTools').length, 1);
});

test('File lists the recent models, newest first, each opening its file; an empty list says so', () => {
  const { items, clicked } = make(true, ['/data/a/model.json', '/data/b/net.h5']);
  const recent = items.find((i) => i.label === 'Recent models')!.submenu as MenuItemConstructorOptions[];
  assert.deepEqual(recent.map((i) => i.label ?? i.type), ['a/model.json', 'b/net.h5', 'separator', 'Clear recent models']);
  (recent[1]!.click as () => void)();
  (recent[3]!.click as () => void)();
  (items.find((i) => i.label === 'Open model…')!.click as () => void)();
  assert.deepEqual(clicked, ['recent /data/b/net.h5', 'clear', 'open']);
  const empty = make(true).items.find((i) => i.label === 'Recent models')!.submenu as MenuItemConstructorOptions[];
  assert.deepEqual(empty.map((i) => [i.label, i.enabled]), [['No recent models', false]]);
  assert.ok(isAllowedExternalLink(QUANTIZATION_DOCS), 'the Help link passes the external-link guard');
});
