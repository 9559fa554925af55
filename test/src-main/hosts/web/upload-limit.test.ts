/**
 * The upload limit an upload meets: the one set with --upload-limit as it
 * is; otherwise 4 GiB, lowered to the free space of the uploads folder's
 * disk less 1 GiB (read from the real file system here).
 */
import assert from 'node:assert/strict';
import { statfs } from 'node:fs/promises';
import { test } from 'node:test';
import { DEFAULT_UPLOAD_LIMIT, UPLOAD_DISK_RESERVE, uploadLimitFor } from '../../../../src-main/hosts/web/upload.js';
import { tempDir } from '../../../helpers/temp.js';

test('a limit set at serve time is taken as it is', async () => {
  assert.deepEqual(await uploadLimitFor(tempDir(), 123), { limit: 123, why: 'studio serve --upload-limit' });
});

test('the default follows the free space of the uploads disk', async () => {
  const dir = tempDir();
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  const { limit, why } = await uploadLimitFor(dir, undefined);
  // Free space moves between the two reads; a MiB of slack covers it.
  const expected = Math.max(0, Math.min(DEFAULT_UPLOAD_LIMIT, free - UPLOAD_DISK_RESERVE));
  assert.ok(Math.abs(limit - expected) <= 2 ** 20, `${limit} vs ${expected}`);
  assert.match(why, limit < DEFAULT_UPLOAD_LIMIT ? /free space of .* less 1 GiB/ : /default/);
});
