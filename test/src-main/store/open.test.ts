import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { openStore, SCHEMA_VERSION, SchemaTooNewError, StoreOpenError } from '../../../src-main/store/index.js';
import { MIGRATIONS, migrate } from '../../../src-main/store/migrations.js';
import { fileSha256, seed, tempDir } from './helpers.js';

const TABLES = ['datasets', 'exports', 'histograms', 'models', 'run_channels', 'run_curves', 'run_sensitivity', 'run_tensors', 'runs'];

/** One sentence that names the path. */
function assertOpenError(err: unknown, file: string, cause: RegExp): true {
  assert.ok(err instanceof StoreOpenError, `expected StoreOpenError, got ${String(err)}`);
  assert.equal(err.path, file);
  assert.ok(err.message.includes(file), err.message);
  assert.match(err.message, cause);
  assert.match(err.message, /^Cannot open the store at .+: [^\n]+\.$/);
  return true;
}

test('migrations create every table and set user_version', (t) => {
  const file = path.join(tempDir(t), 'a', 'b', 'studio.db');
  const store = openStore(file);
  assert.equal(store.schemaVersion, SCHEMA_VERSION);
  assert.equal(store.path, file);
  assert.equal(store.recoveredRuns, 0);
  store.close();

  const db = new Database(file, { readonly: true });
  const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).pluck().all();
  assert.deepEqual(tables, TABLES);
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  db.close();
});

test('migrations are numbered 1..N and each step is atomic', (t) => {
  assert.deepEqual(MIGRATIONS.map((m) => m.version), MIGRATIONS.map((_, i) => i + 1));
  assert.equal(SCHEMA_VERSION, MIGRATIONS.length);

  const file = path.join(tempDir(t), 'steps.db');
  const db = new Database(file);
  t.after(() => db.close());
  const broken = { version: SCHEMA_VERSION + 1, description: 'fails halfway', sql: 'CREATE TABLE extra (v); INSERT INTO nowhere VALUES (1);' };
  assert.throws(() => migrate(db, [...MIGRATIONS, broken]), /no such table: nowhere/);
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION, 'earlier steps kept');
  assert.equal(db.prepare(`SELECT count(*) FROM sqlite_master WHERE name = 'extra'`).pluck().get(), 0, 'failed step rolled back');
  assert.equal(migrate(db), SCHEMA_VERSION, 'rerunning is a no-op');
});

test('WAL mode and foreign keys are on', (t) => {
  const file = path.join(tempDir(t), 'studio.db');
  const store = openStore(file);
  const { modelId, datasetId } = seed(store);
  store.runs.create({ kind: 'ptq', config: { modelId, datasetId } });
  // WAL is a property of the file, visible from another connection.
  const db = new Database(file, { readonly: true });
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  db.close();
  assert.ok(fs.existsSync(`${file}-wal`));
  // Foreign keys: a child row for a missing run is refused.
  assert.throws(() => store.curves.append(999, [{ step: 1, epoch: 0, split: 'train', loss: 1, accuracy: 0 }]), /FOREIGN KEY/);
  store.close();
});

test('reopening is idempotent and keeps data', (t) => {
  const file = path.join(tempDir(t), 'studio.db');
  let store = openStore(file);
  const { modelId, datasetId } = seed(store);
  const run = store.runs.create({ kind: 'float', config: { modelId, datasetId } });
  store.runs.finish(run.id, { status: 'done', floatAccuracy: 0.9 });
  store.close();
  store.close(); // close twice is harmless

  for (let i = 0; i < 3; i++) {
    store = openStore(file);
    assert.equal(store.schemaVersion, SCHEMA_VERSION);
    assert.equal(store.recoveredRuns, 0);
    assert.equal(store.runs.list().length, 1);
    assert.equal(store.runs.get(run.id)?.floatAccuracy, 0.9);
    store.close();
  }
});

test('a file with a newer schema is refused and left byte-identical', (t) => {
  const file = path.join(tempDir(t), 'studio.db');
  openStore(file).close();
  const raw = new Database(file);
  raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  raw.close(); // checkpoints, so the version is in the main file and no -wal is left
  const before = fileSha256(file);
  const filesBefore = fs.readdirSync(path.dirname(file)).sort();

  assert.throws(
    () => openStore(file),
    (err: unknown) => {
      assert.ok(err instanceof SchemaTooNewError);
      assert.ok(err instanceof StoreOpenError);
      assert.equal(err.fileVersion, SCHEMA_VERSION + 1);
      assert.equal(err.supportedVersion, SCHEMA_VERSION);
      assert.ok(err.message.includes(file));
      assert.ok(err.message.includes(String(SCHEMA_VERSION + 1)) && err.message.includes(String(SCHEMA_VERSION)));
      return true;
    },
  );
  assert.equal(fileSha256(file), before);
  assert.deepEqual(fs.readdirSync(path.dirname(file)).sort(), filesBefore, 'no -wal/-shm created');
});

test('a newer schema still in the WAL is refused without touching the file or the WAL', (t) => {
  const file = path.join(tempDir(t), 'studio.db');
  openStore(file).close();
  // A newer build, still running, whose upgrade is committed but not checkpointed.
  const newer = new Database(file);
  t.after(() => newer.close());
  newer.pragma('wal_autocheckpoint = 0');
  newer.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
  const header = Buffer.alloc(100);
  const fd = fs.openSync(file, 'r');
  fs.readSync(fd, header, 0, 100, 0);
  fs.closeSync(fd);
  assert.equal(header.readInt32BE(60), SCHEMA_VERSION, 'the main file still has the old version');
  const mainBefore = fileSha256(file);
  const walBefore = fileSha256(`${file}-wal`);

  assert.throws(() => openStore(file), (err: unknown) => err instanceof SchemaTooNewError && err.fileVersion === SCHEMA_VERSION + 5);
  assert.equal(fileSha256(file), mainBefore);
  assert.equal(fileSha256(`${file}-wal`), walBefore);
});

test('a directory path gives StoreOpenError naming the path', (t) => {
  const dir = tempDir(t);
  assert.throws(() => openStore(dir), (err) => assertOpenError(err, dir, /directory/));
});

test('a garbage file gives StoreOpenError and is not modified', (t) => {
  const file = path.join(tempDir(t), 'notes.db');
  fs.writeFileSync(file, 'these are my notes, not a database\n'.repeat(20));
  const before = fileSha256(file);
  assert.throws(() => openStore(file), (err) => assertOpenError(err, file, /not a SQLite database/));
  assert.equal(fileSha256(file), before);
});

test('a file with a SQLite header but garbage pages gives StoreOpenError', (t) => {
  const file = path.join(tempDir(t), 'broken.db');
  const bytes = Buffer.alloc(8192, 0xab);
  bytes.write('SQLite format 3\0', 0, 'latin1');
  bytes.writeInt32BE(0, 60); // user_version
  bytes.writeInt32BE(0, 68); // application_id
  fs.writeFileSync(file, bytes);
  assert.throws(() => openStore(file), (err) => assertOpenError(err, file, /./));
});

test("another application's SQLite file is refused, not migrated into", (t) => {
  const file = path.join(tempDir(t), 'other.db');
  const other = new Database(file);
  other.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)');
  other.close();
  const before = fileSha256(file);
  assert.throws(() => openStore(file), (err) => assertOpenError(err, file, /another application/));
  assert.equal(fileSha256(file), before);

  const tagged = path.join(tempDir(t), 'tagged.db');
  const db = new Database(tagged);
  db.pragma('application_id = 1234');
  db.close();
  assert.throws(() => openStore(tagged), (err) => assertOpenError(err, tagged, /another application \(application_id 1234\)/));
});

test('a file locked by another writer for longer than the timeout gives StoreOpenError', (t) => {
  const file = path.join(tempDir(t), 'locked.db');
  const holder = new Database(file); // rollback journal: an exclusive lock blocks readers too
  holder.exec('CREATE TABLE x (v)');
  holder.exec('BEGIN EXCLUSIVE; INSERT INTO x VALUES (1)');
  t.after(() => holder.close());
  const started = Date.now();
  assert.throws(() => openStore(file, { busyTimeoutMs: 200 }), (err) => assertOpenError(err, file, /locked by another process for longer than the 200 ms/));
  assert.ok(Date.now() - started >= 150, 'waited for the busy timeout');
});

test('an unreadable file gives StoreOpenError', { skip: process.getuid?.() === 0 ? 'root can read any file' : false }, (t) => {
  const file = path.join(tempDir(t), 'secret.db');
  openStore(file).close();
  fs.chmodSync(file, 0o000);
  try {
    assert.throws(() => openStore(file), (err) => assertOpenError(err, file, /not writable or readable/));
  } finally {
    fs.chmodSync(file, 0o600);
  }
});

test('a path under a regular file gives StoreOpenError', (t) => {
  const blocker = path.join(tempDir(t), 'file');
  fs.writeFileSync(blocker, 'x');
  const file = path.join(blocker, 'studio.db');
  assert.throws(() => openStore(file), (err) => assertOpenError(err, file, /folder could not be created/));
});
