// `studio import-model` and `studio import-data` as a user runs them:
// bin/studio.js in a child process, on a database in a temp folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../../helpers/temp.js';
import { SAMPLE_DATA, sha256Of, writeVariant } from '../library/fixtures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

function studio(db: string, args: string[], cwd: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'studio.js'), '--db', db, '--backend', 'cpu', ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('import-model copies by default, --reference points at the file, the same content again names the stored entry', () => {
  const dir = tempDir();
  const db = path.join(dir, 'lib', 'studio.sqlite');
  const work = tempDir();
  const file = writeVariant(path.join(work, 'cli_cnn'), 'cli_cnn');
  const sha = sha256Of(file, path.join(work, 'cli_cnn', 'group1-shard1of1.bin'));

  // A relative path, resolved against the working folder.
  const copied = studio(db, ['import-model', path.join('cli_cnn', 'model.json'), '--name', 'CLI CNN', '--json'], work);
  assert.equal(copied.code, 0, copied.stderr);
  const model = JSON.parse(copied.stdout) as { id: number; name: string; path: string; sha256: string; inputShape: number[] };
  assert.equal(model.name, 'CLI CNN');
  assert.equal(model.sha256, sha);
  assert.equal(model.path, path.join(dir, 'lib', 'models', sha, 'model.json'));
  assert.ok(existsSync(model.path));

  const again = studio(db, ['import-model', file, '--reference'], work);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`^already in the library \\(same content\\): model ${model.id} "CLI CNN"`));
  assert.match(again.stdout, new RegExp(`sha256 +${sha}`));

  const missing = studio(db, ['import-model', 'nope.h5'], work);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr.trim().split('\n').at(-1), `studio: ${path.join(work, 'nope.h5')}: not found`);
});

test('import-data passes the preprocessing flags through and prints what was stored', () => {
  const dir = tempDir();
  const db = path.join(dir, 'studio.sqlite');
  const r = studio(db, ['import-data', SAMPLE_DATA, '--name', 'fm-norm', '--scale', '1/255', '--mean', '0.286', '--std', '0.353', '--json'], dir);
  assert.equal(r.code, 0, r.stderr);
  const d = JSON.parse(r.stdout) as { name: string; count: number; inputShape: number[]; format: string };
  assert.deepEqual([d.name, d.count, d.inputShape, d.format], ['fm-norm', 4000, [28, 28, 1], 'idx']);

  const text = studio(db, ['import-data', SAMPLE_DATA, '--mean', '0.286', '--std', '0.353', '--scale', '0.00392156862745098'], dir);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^already in the library \(same content\): dataset \d+ "fm-norm"/);

  const bad = studio(db, ['import-data', SAMPLE_DATA, '--size', '28by28'], dir);
  assert.equal(bad.code, 2, 'a usage error');
  assert.match(bad.stderr, /--size expects HEIGHTxWIDTH such as 224x224, got "28by28"/);
  const bgr = studio(db, ['import-data', SAMPLE_DATA, '--bgr'], dir);
  assert.equal(bgr.code, 1);
  assert.match(bgr.stderr, /fashion-mnist.*channelOrder "bgr" needs 3-channel samples/);
});
