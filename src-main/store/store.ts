/**
 * Opening the store: preflight checks, pragmas, migrations and crash
 * recovery, then one repository object per table family.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { CurveRepo } from './curves.js';
import { DatasetRepo } from './datasets.js';
import { StoreOpenError } from './errors.js';
import { ExportRepo } from './exports.js';
import { SCHEMA_VERSION, migrate } from './migrations.js';
import { ModelRepo } from './models.js';
import { describeOpenFailure } from './open-failure.js';
import { checkIdentity, preflight } from './preflight.js';
import { recoverInterruptedRuns, registerOwner, releaseOwner } from './recovery.js';
import { RunRepo } from './runs.js';
import { SensitivityRepo } from './sensitivity.js';
import { TensorRepo } from './tensors.js';

export interface OpenStoreOptions {
  /** How long to wait for another process's write lock before giving up. Default 5000 ms. */
  busyTimeoutMs?: number;
  /** better-sqlite3 built for another ABI (Electron's), see hosts/electron/native-binding.ts. */
  nativeBinding?: string;
}

export const DEFAULT_BUSY_TIMEOUT_MS = 5000;

export class Store {
  readonly schemaVersion = SCHEMA_VERSION;
  readonly models: ModelRepo;
  readonly datasets: DatasetRepo;
  readonly runs: RunRepo;
  readonly tensors: TensorRepo;
  readonly curves: CurveRepo;
  readonly exports: ExportRepo;
  readonly sensitivity: SensitivityRepo;
  /** How many queued/running runs of dead processes were marked 'interrupted' on open. */
  readonly recoveredRuns: number;

  /** Use openStore(). */
  constructor(
    readonly path: string,
    private readonly db: Database.Database,
    private readonly ownerToken: string,
    /** Their ids, so the caller can announce the status change. */
    readonly recoveredRunIds: readonly number[],
  ) {
    this.recoveredRuns = recoveredRunIds.length;
    this.models = new ModelRepo(db);
    this.datasets = new DatasetRepo(db);
    // Late-bound: detail() reads tensors through the tensor repo, which finishes runs through this one.
    this.runs = new RunRepo(db, ownerToken, (runId) => this.tensors.tensors(runId));
    this.sensitivity = new SensitivityRepo(db);
    this.tensors = new TensorRepo(db, this.runs, this.sensitivity);
    this.curves = new CurveRepo(db);
    this.exports = new ExportRepo(db);
  }

  get isOpen(): boolean {
    return this.db.open;
  }

  /** SQLite's data_version: changes when another connection (another process) commits; this connection's own writes leave it alone. */
  dataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }

  /** Runs `fn` in one IMMEDIATE transaction; repository calls inside it nest as savepoints. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /** Idempotent. Runs this instance left queued/running are recovered by the next open. */
  close(): void {
    releaseOwner(this.ownerToken);
    if (this.db.open) this.db.close();
  }
}

/**
 * Opens (creating if needed) the store at `path`. Throws SchemaTooNewError
 * for a file from a newer build, without writing to it, and StoreOpenError
 * for anything else that prevents opening it.
 */
export function openStore(path: string, options: OpenStoreOptions = {}): Store {
  const timeout = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  preflight(path);
  refuseReadOnly(path);

  let db: Database.Database;
  try {
    db = new Database(path, { timeout, ...(options.nativeBinding ? { nativeBinding: options.nativeBinding } : {}) });
  } catch (err) {
    throw new StoreOpenError(path, describeOpenFailure(err, timeout), { cause: err });
  }

  let token: string | undefined;
  let stage = 'reading its schema version';
  try {
    // Again through SQLite: another process may have upgraded it since the preflight.
    // One read transaction, so a concurrent first migration is seen whole or not at all.
    db.transaction(() => {
      const version = db.pragma('user_version', { simple: true }) as number;
      checkIdentity(path, db.pragma('application_id', { simple: true }) as number, version);
      if (version === 0 && db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM sqlite_master`).get()!.n > 0) {
        // Never add our tables to somebody else's database.
        throw new StoreOpenError(path, 'it is a SQLite database with tables of another application');
      }
    })();
    stage = 'switching it to WAL';
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('synchronous = NORMAL'); // durable across app crashes in WAL; only a power loss can drop the last commits
    stage = `upgrading its schema to version ${SCHEMA_VERSION}`;
    migrate(db);
    stage = 'recovering interrupted runs';
    token = registerOwner();
    const recovered = recoverInterruptedRuns(db, dirname(path));
    return new Store(path, db, token, recovered);
  } catch (err) {
    if (token !== undefined) releaseOwner(token);
    db.close();
    if (err instanceof StoreOpenError) throw err;
    throw new StoreOpenError(path, `${describeOpenFailure(err, timeout)} (while ${stage})`, { cause: err });
  }
}

/**
 * A database this user cannot write is refused at open, naming the path,
 * rather than failing at the first write: the file itself, and its folder
 * (SQLite in WAL mode creates the -wal and -shm files beside it).
 */
function refuseReadOnly(file: string): void {
  const check = (p: string, what: string) => {
    try {
      accessSync(p, constants.W_OK);
    } catch (err) {
      throw new StoreOpenError(file, `${what} ${p} is read-only for this user (${(err as NodeJS.ErrnoException).code}); the studio needs to write there (make it writable, or copy the database somewhere writable and open it with --db)`, { cause: err });
    }
  };
  if (existsSync(file)) check(file, 'the database file');
  check(dirname(file), 'its folder');
}
