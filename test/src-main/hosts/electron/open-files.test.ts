/**
 * Files handed to the desktop app ("Open with", a second launch, the recent
 * menu) go through models.import on a real studio; and electron-builder.yml
 * associates exactly the extensions open-files.ts accepts.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { MODEL_FILE_EXTENSIONS, modelFilesIn, openModelFiles } from '../../../../src-main/hosts/electron/open-files.js';
import { RecentModels } from '../../../../src-main/hosts/electron/recent-models.js';
import { withDesktopHandlers } from '../../../../src-main/hosts/electron/desktop-handlers.js';
import { dispatch } from '../../../../src-main/api/dispatch.js';
import { openStudio, type Studio } from '../../../../src-main/studio.js';
import { tempDir } from '../../../helpers/temp.js';
import { writeVariant } from '../../library/fixtures.js';
import { FakeShell } from './fake-shell.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '..');
let studio: Studio;

before(async () => {
  studio = await openStudio({ dbPath: path.join(tempDir(), 'studio.sqlite'), host: 'electron', backend: 'cpu', defaults: false });
});
after(async () => {
  await studio.close();
});

test('a launch\'s arguments: model files resolved against its folder; flags, the app path and other files skipped', () => {
  const dir = tempDir();
  const model = writeVariant(path.join(dir, 'net'), 'net');
  writeFileSync(path.join(dir, 'notes.txt'), 'x');
  writeFileSync(path.join(dir, 'old.h5'), 'x');
  assert.deepEqual(modelFilesIn(['/opt/studio/studio', '--db', '/tmp/s.sqlite', 'net/model.json', 'notes.txt', 'old.h5', 'gone.keras'], dir), [model, path.join(dir, 'old.h5')]);
});

test('opened files are imported, remembered and announced; a bad one is reported naming it and the others still open', async () => {
  const dir = tempDir();
  const good = writeVariant(path.join(dir, 'opened'), 'opened_cnn');
  const bad = path.join(dir, 'broken.h5');
  writeFileSync(bad, 'not hdf5');
  const recent = new RecentModels(path.join(dir, 'recent.json'));
  const announced: unknown[] = [];
  const off = studio.events.subscribe((event, payload) => event === 'models.imported' && announced.push(payload));
  const errors: [string, string][] = [];
  const models = await openModelFiles([bad, good], { handlers: studio.handlers, events: studio.events, recent, showError: (t, m) => errors.push([t, m]) });
  off();
  assert.deepEqual(models.map((m) => m.name), ['opened'], 'named after its folder, as the Import panel names it');
  assert.equal(studio.store.models.list().length, 1);
  assert.deepEqual(recent.list(), [good]);
  assert.deepEqual(announced, [{ model: models[0], origin: 'open-file' }]);
  assert.equal(errors.length, 1);
  assert.equal(errors[0]![0], 'Cannot open broken.h5');
  assert.match(errors[0]![1], /broken\.h5/);
});

test('Show in folder: the desktop opens the file manager on the stored export\'s path; elsewhere the path only', async () => {
  const model = studio.store.models.list()[0]!;
  const ds = studio.store.datasets.insert({ name: 'd', source: 'imported', format: 'idx', path: '/nowhere', sha256: 'd', count: 1, inputShape: [28, 28, 1], numClasses: 10, preprocessing: {} } as never);
  const run = studio.store.runs.create({ kind: 'ptq', name: 'r', config: { modelId: model.id, datasetId: ds.id } });
  const file = path.join(tempDir(), 'r.onnx');
  writeFileSync(file, 'onnx');
  const record = studio.store.exports.insert({ runId: run.id, format: 'onnx', path: file, size: 4, sha256: 'x' });
  const web = await dispatch(studio.handlers, 'exports.showInFolder', { id: record.id }, { validateOutputs: true });
  assert.deepEqual(web, { ok: true, output: { shown: false, path: file } });
  const shell = new FakeShell();
  const desktop = withDesktopHandlers(studio.handlers, studio, shell);
  assert.deepEqual(await dispatch(desktop, 'exports.showInFolder', { id: record.id }, { validateOutputs: true }), { ok: true, output: { shown: true, path: file } });
  assert.deepEqual(shell.of('showItemInFolder'), [[file]]);
  const missing = await dispatch(desktop, 'exports.showInFolder', { id: 999 });
  assert.deepEqual(missing, { ok: false, error: { code: 'not_found', message: 'export 999 does not exist' } });
  const byPath = await dispatch(desktop, 'exports.showInFolder', { path: '/etc/passwd' });
  assert.equal(byPath.ok, false, 'a path from the renderer is refused by the contract');
});

test('electron-builder.yml associates the extensions the app opens', () => {
  const yaml = createRequire(import.meta.url)('js-yaml') as { load(text: string): unknown };
  const config = yaml.load(readFileSync(path.join(root, 'electron-builder.yml'), 'utf8')) as { fileAssociations: { ext: string; name: string }[] };
  assert.deepEqual(config.fileAssociations.map((a) => a.ext).sort(), [...MODEL_FILE_EXTENSIONS].sort());
  for (const a of config.fileAssociations) assert.ok(a.name.length > 0);
});
