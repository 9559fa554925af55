// The recent models list: newest first, no duplicates, at most RECENT_MAX, files that vanished dropped.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { RECENT_MAX, RecentModels } from '../../../../src-main/hosts/electron/recent-models.js';
import { tempDir } from '../../../helpers/temp.js';

test('newest first, deduplicated, capped, and only files that still exist', () => {
  const dir = tempDir();
  const files = Array.from({ length: RECENT_MAX + 2 }, (_, i) => path.join(dir, `m${i}.h5`));
  for (const f of files) writeFileSync(f, 'x');
  const recent = new RecentModels(path.join(dir, 'user', 'recent-models.json'));
  assert.deepEqual(recent.list(), []);
  for (const f of files) recent.add(f);
  recent.add(files[3]!);
  const list = new RecentModels(path.join(dir, 'user', 'recent-models.json')).list();
  assert.equal(list.length, RECENT_MAX);
  assert.deepEqual(list.slice(0, 3), [files[3], files[RECENT_MAX + 1], files[RECENT_MAX]]);
  rmSync(files[3]!);
  assert.equal(recent.list()[0], files[RECENT_MAX + 1]);
  recent.clear();
  assert.deepEqual(recent.list(), []);
});
