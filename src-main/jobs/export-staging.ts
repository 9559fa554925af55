/**
 * How an export reaches its destination so that the destination changes only
 * once, and what the next start does with whatever a killed export left.
 *
 * 1. The writer writes to a staging path beside the destination
 *    (`.NAME.<pid>.<tag>.staging<ext>`; a folder for tfjs), audits and
 *    verifies that staging copy. Until step 3 the destination is untouched,
 *    so a cancel, a failure or a kill leaves the old file byte for byte.
 * 2. A journal file in the data folder (`export-journal/<pid>-<tag>.json`),
 *    written when the job starts (state `writing`), is rewritten with the
 *    result (state `committing`) once the staging copy is verified. That
 *    write is the commit point: from here a kill rolls forward at the next start.
 * 3. The record is stored, then each staging path is renamed over its
 *    destination. For a file, rename(2) replaces it atomically. A folder
 *    (tfjs) cannot be renamed over a non-empty folder: the old folder is
 *    first renamed to `.NAME.<pid>.<tag>.replaced`, then the new one into
 *    place, then the old one removed; a kill between the two renames leaves
 *    no folder at NAME for an instant, which the sweep repairs (rolls forward).
 *    The params CSV is renamed before its JSON, so the JSON is the last to change.
 * 4. The journal is removed.
 *
 * The sweep (sweepExportLeftovers, run when a studio opens) reads the
 * journals of processes no longer alive: `writing` ones get their staging
 * paths removed (the destination was never touched); `committing` ones are
 * finished (staging renamed into place, the record inserted if missing). It
 * then scans the folders of the journals, of the export history and of the
 * export folder for leftovers of dead processes following these names:
 * staging and `.tmp` files are removed, `.replaced` folders restored if their
 * destination is missing (else removed), and `.NAME.<pid>.previous` files of
 * the old scheme (moved aside before writing) put back over NAME. Every action
 * goes to `export-recovery.log` (JSON lines) in the data folder; the CLI prints
 * the new lines when it opens the studio.
 *
 * Test hook: with STUDIO_EXPORT_PAUSE_AT=<step> the export blocks at that step
 * (after printing `studio-test-hook: paused at <step>` on stderr) so a test can
 * kill the process there. Steps: write, audit, verify (the writer's phases, in
 * the worker), commit (journal written, nothing stored or renamed), stored
 * (record stored, nothing renamed), renamed (in place, journal not removed).
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { exportOutputPaths } from '../export/formats.js';
import type { ExportResult } from '../export/types.js';
import type { Store } from '../store/index.js';

export const PAUSE_ENV = 'STUDIO_EXPORT_PAUSE_AT';

/** Blocks this thread at `step` when the test hook asks for it (see the module comment). */
export function pauseForTest(step: string): void {
  if (process.env[PAUSE_ENV] !== step) return;
  process.stderr.write(`studio-test-hook: paused at ${step}\n`);
  // Synchronous on purpose: the writer's phase callbacks are synchronous; the process is meant to be killed here.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10 * 60_000);
}

/** Tags of exports running in this process (so a sweep by a second studio in the same process leaves them alone). */
const liveTags = new Set<string>();

function processAlive(pid: number, tag: string): boolean {
  if (pid === process.pid) return liveTags.has(tag);
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `.NAME.<pid>.<tag>.staging[.ext]`, `.NAME.<pid>.<tag>.tmp`, `.NAME.<pid>.<tag>.replaced`, `.NAME.<pid>.previous`. */
const LEFTOVER = /^\.(.+)\.(\d+)\.(?:([0-9a-f]{8})\.(staging(?:\.[^.]+)?|tmp|replaced)|(previous))$/;

export interface Leftover {
  kind: 'staging' | 'tmp' | 'replaced' | 'previous';
  /** The destination name it belongs to (for staging, with the name's own extension). */
  name: string;
  pid: number;
  tag: string;
}

export function parseLeftover(file: string): Leftover | null {
  const m = LEFTOVER.exec(file);
  if (!m) return null;
  const kind = m[5] ? 'previous' : m[4]!.startsWith('staging') ? 'staging' : (m[4] as 'tmp' | 'replaced');
  return { kind, name: m[1]!, pid: Number(m[2]), tag: m[3] ?? '' };
}

export interface ExportJournal {
  pid: number;
  tag: string;
  runId: number;
  format: string;
  dest: string;
  /** Destination paths, in rename order's reverse (primary first), and their staging paths. */
  outputs: string[];
  staging: string[];
  state: 'writing' | 'committing';
  /** The verified result (paths already those of the destination), once committing. */
  result?: ExportResult;
}

export function journalDir(dataDir: string): string {
  return path.join(dataDir, 'export-journal');
}

export function recoveryLogPath(dataDir: string): string {
  return path.join(dataDir, 'export-recovery.log');
}

/** One export's staging paths and journal. */
export class ExportStaging {
  readonly tag = randomBytes(4).toString('hex');
  readonly outputs: string[];
  readonly staging: string[];
  private readonly journalPath: string;
  private journal: ExportJournal;

  constructor(
    private readonly dataDir: string,
    runId: number,
    format: string,
    readonly dest: string,
  ) {
    this.outputs = exportOutputPaths(format, dest);
    const ext = path.extname(dest);
    const primary = path.join(path.dirname(dest), `.${path.basename(dest)}.${process.pid}.${this.tag}.staging${ext}`);
    this.staging = exportOutputPaths(format, primary);
    this.journalPath = path.join(journalDir(dataDir), `${process.pid}-${this.tag}.json`);
    this.journal = { pid: process.pid, tag: this.tag, runId, format, dest, outputs: this.outputs, staging: this.staging, state: 'writing' };
  }

  get stagingPath(): string {
    return this.staging[0]!;
  }

  begin(): void {
    liveTags.add(this.tag);
    mkdirSync(journalDir(this.dataDir), { recursive: true });
    this.writeJournal();
  }

  /** A message or path of the staging copy, said of the destination. */
  toDest(text: string): string {
    let out = text;
    for (let i = 0; i < this.staging.length; i++) out = out.split(this.staging[i]!).join(this.outputs[i]!);
    return out;
  }

  /** The worker's result with the destination's paths. */
  resultAtDest(r: ExportResult): ExportResult {
    return { ...r, path: this.toDest(r.path), extraPaths: r.extraPaths.map((p) => this.toDest(p)) };
  }

  /** The commit point: the verified result is in the journal. */
  committing(result: ExportResult): void {
    this.journal = { ...this.journal, state: 'committing', result };
    this.writeJournal();
  }

  /** Renames every staging path over its destination (see the module comment). */
  rename(): void {
    renameStaging(this.journal);
  }

  /** Removes the staging paths (failure, cancel, or a record that could not be stored); the destination is untouched. */
  discard(): void {
    for (const p of this.staging) rmSync(p, { recursive: true, force: true });
  }

  end(): void {
    rmSync(this.journalPath, { force: true });
    liveTags.delete(this.tag);
  }

  private writeJournal(): void {
    const tmp = `${this.journalPath}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.journal));
    renameSync(tmp, this.journalPath);
  }
}

function exists(p: string): boolean {
  return lstatSync(p, { throwIfNoEntry: false }) !== undefined;
}

function renameStaging(j: Pick<ExportJournal, 'outputs' | 'staging' | 'pid' | 'tag'>): void {
  // Sidecars first, the primary output last.
  for (let i = j.outputs.length - 1; i >= 0; i--) {
    const from = j.staging[i]!;
    const to = j.outputs[i]!;
    if (!exists(from)) continue;
    if (lstatSync(from).isDirectory() && exists(to)) {
      const aside = path.join(path.dirname(to), `.${path.basename(to)}.${j.pid}.${j.tag}.replaced`);
      renameSync(to, aside);
      renameSync(from, to);
      rmSync(aside, { recursive: true, force: true });
    } else renameSync(from, to);
  }
}

export interface RecoveryEntry {
  at: string;
  action: 'removed' | 'restored' | 'completed' | 'rolled-back';
  path: string;
  message: string;
}

/**
 * Finishes or undoes what killed exports left (see the module comment);
 * `folders` are extra places to scan (the export folder). Returns what it did,
 * also appended to export-recovery.log.
 */
export function sweepExportLeftovers(store: Store, dataDir: string, folders: string[] = []): RecoveryEntry[] {
  const done: RecoveryEntry[] = [];
  const note = (action: RecoveryEntry['action'], p: string, message: string) => done.push({ at: new Date().toISOString(), action, path: p, message });
  const scan = new Set<string>(folders);
  const jdir = journalDir(dataDir);
  for (const file of existsSync(jdir) ? readdirSync(jdir) : []) {
    const full = path.join(jdir, file);
    let j: ExportJournal;
    try {
      j = JSON.parse(readFileSync(full, 'utf8')) as ExportJournal;
    } catch {
      // A journal half-written (its .tmp) or unreadable: nothing was committed through it.
      if (file.endsWith('.tmp')) rmSync(full, { force: true });
      continue;
    }
    if (processAlive(j.pid, j.tag)) continue;
    for (const out of j.outputs) scan.add(path.dirname(out));
    try {
      if (j.state === 'committing' && j.result) {
        const r = j.result;
        const has = store.exports.find(j.runId, r.path, r.sha256);
        if (!has) {
          try {
            store.exports.insert({ runId: j.runId, format: r.format, path: r.path, size: r.size, sha256: r.sha256, verification: { ...(r.verification ?? {}), extraPaths: r.extraPaths }, audit: r.audit });
          } catch (e) {
            // The run is gone: the export cannot be recorded, so it is not put in place either.
            for (const p of j.staging) rmSync(p, { recursive: true, force: true });
            note('rolled-back', j.dest, `export of run ${j.runId} to ${j.dest} was killed before it finished and cannot be recorded (${(e as Error).message}); ${j.dest} was left as it was`);
            rmSync(full, { force: true });
            continue;
          }
        }
        renameStaging(j);
        note('completed', j.dest, `export of run ${j.runId} to ${j.dest} was killed after it was verified; it was put in place and recorded at this start`);
      } else {
        const removed = j.staging.filter((p) => exists(p));
        for (const p of removed) rmSync(p, { recursive: true, force: true });
        note('removed', j.dest, `export of run ${j.runId} to ${j.dest} was killed before it was verified; ${removed.length ? 'its unverified copy was removed and ' : ''}${j.dest} was left as it was`);
      }
      rmSync(full, { force: true });
    } catch (e) {
      note('removed', j.dest, `could not finish the recovery of the export to ${j.dest}: ${(e as Error).message}; the journal ${full} was kept`);
    }
  }
  for (const p of store.exports.paths()) scan.add(path.dirname(p));
  for (const dir of scan) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const l = parseLeftover(name);
      if (!l || processAlive(l.pid, l.tag)) continue;
      const full = path.join(dir, name);
      const dest = path.join(dir, l.name);
      try {
        if (l.kind === 'staging' || l.kind === 'tmp') {
          rmSync(full, { recursive: true, force: true });
          note('removed', full, `removed ${full}, an unfinished export copy of ${dest} left by process ${l.pid}`);
        } else if (!exists(dest)) {
          renameSync(full, dest);
          note('restored', dest, `restored ${dest} from ${full}, set aside by an export (process ${l.pid}) killed before it finished`);
        } else if (l.kind === 'previous') {
          // Old scheme: NAME holds the new, unverified and unrecorded file; the previous one is put back.
          rmSync(dest, { recursive: true, force: true });
          renameSync(full, dest);
          note('restored', dest, `restored ${dest} from ${full}: an export (process ${l.pid}) killed before it finished had replaced it with an unverified file`);
        } else {
          rmSync(full, { recursive: true, force: true });
          note('removed', full, `removed ${full}, the old copy of ${dest} replaced by a finished export (process ${l.pid})`);
        }
      } catch (e) {
        note('removed', full, `could not clean up ${full}: ${(e as Error).message}`);
      }
    }
  }
  if (done.length) {
    try {
      appendFileSync(recoveryLogPath(dataDir), done.map((d) => JSON.stringify(d) + '\n').join(''));
    } catch {
      // The log is a record of what was done; the actions stand without it.
    }
  }
  return done;
}
