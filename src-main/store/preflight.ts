/**
 * Checks made before SQLite touches the file, so a file we must refuse (a
 * newer schema, a foreign file, garbage) is never written: SQLite would
 * otherwise switch it to WAL, roll back a hot journal or checkpoint its WAL.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SchemaTooNewError, StoreOpenError } from './errors.js';
import { APPLICATION_ID, SCHEMA_VERSION } from './migrations.js';
import { describeOpenFailure } from './open-failure.js';

const HEADER_BYTES = 100;
const MAGIC = 'SQLite format 3\0';

/** Creates the parent folder and refuses paths that cannot hold a store. */
export function preflight(file: string): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
  } catch (err) {
    throw new StoreOpenError(file, `its folder could not be created (${(err as Error).message})`, { cause: err });
  }
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // a new store
    throw new StoreOpenError(file, describeOpenFailure(err), { cause: err });
  }
  if (stat.isDirectory()) throw new StoreOpenError(file, 'it is a directory, not a database file');
  if (!stat.isFile()) throw new StoreOpenError(file, 'it is not a regular file');
  if (stat.size === 0) return; // SQLite treats an empty file as a new database
  checkHeader(file, readHeader(file));
  probeWal(file);
}

function readHeader(file: string): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const n = fs.readSync(fd, header, 0, HEADER_BYTES, 0);
    return header.subarray(0, n);
  } catch (err) {
    throw new StoreOpenError(file, describeOpenFailure(err), { cause: err });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function checkHeader(file: string, header: Buffer): void {
  if (header.length < HEADER_BYTES || header.toString('latin1', 0, MAGIC.length) !== MAGIC) {
    throw new StoreOpenError(file, 'it is not a SQLite database (the file header is wrong)');
  }
  checkIdentity(file, header.readInt32BE(68), header.readInt32BE(60));
}

/** application_id and user_version, wherever they were read from. */
export function checkIdentity(file: string, applicationId: number, version: number): void {
  if (applicationId !== 0 && applicationId !== APPLICATION_ID) {
    throw new StoreOpenError(file, `it is a SQLite database of another application (application_id ${applicationId})`);
  }
  if (version > SCHEMA_VERSION) throw new SchemaTooNewError(file, version, SCHEMA_VERSION);
}

/**
 * Committed changes may still sit in the -wal file, newer than the header.
 * A read-only connection sees them without checkpointing or deleting the WAL
 * (it may update the -shm index, which holds no data).
 */
function probeWal(file: string): void {
  let walSize = 0;
  try {
    walSize = fs.statSync(`${file}-wal`).size;
  } catch {
    return;
  }
  if (walSize === 0) return;
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const applicationId = db.pragma('application_id', { simple: true }) as number;
    const version = db.pragma('user_version', { simple: true }) as number;
    checkIdentity(file, applicationId, version);
  } catch (err) {
    if (err instanceof StoreOpenError) throw err;
    throw new StoreOpenError(file, describeOpenFailure(err), { cause: err });
  } finally {
    db?.close();
  }
}
