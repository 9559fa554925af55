/**
 * The export job as the engine worker runs it: runExport with its steps and
 * verification batches turned into progress, a cancel checked at every step
 * and after every batch, and, when it fails or is cancelled, whatever this
 * export put on disk removed again: the file (or folder) it renamed into
 * place, the params CSV beside it, and temporary files of this process that
 * an interrupted write left in the destination folder.
 *
 * A destination that existed before and was not replaced (overwrite off, so
 * the writer refused) is never touched: only paths whose inode changed
 * during the job are removed. One the user asked to overwrite is moved aside
 * first and put back if the export fails, so a failed replacement loses
 * nothing; it is deleted only once the new file is written and verified.
 */
import { lstat, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { runExport, type ExportPayload, type ExportResult } from '../export/index.js';
import { exportOutputPaths } from '../export/formats.js';
import { CancelledError, type JobContext } from './protocol.js';

async function identity(p: string): Promise<string | null> {
  const info = await lstat(p).catch(() => null);
  return info ? `${info.dev}:${info.ino}` : null;
}

/** Removes the outputs this job created or replaced, and its temporary files (write-file.ts names them `.<name>.<pid>.<hex>.tmp`). */
export async function removeExportLeftovers(outputs: string[], before: ReadonlyMap<string, string | null>): Promise<void> {
  for (const out of outputs) {
    const now = await identity(out);
    if (now !== null && now !== before.get(out)) await rm(out, { recursive: true, force: true }).catch(() => {});
    const dir = path.dirname(out);
    const prefix = `.${path.basename(out)}.${process.pid}.`;
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      if (name.startsWith(prefix) && name.endsWith('.tmp')) await rm(path.join(dir, name), { recursive: true, force: true }).catch(() => {});
    }
  }
}

/** Where an output being replaced waits until the export succeeds. */
export function setAsidePath(out: string): string {
  return path.join(path.dirname(out), `.${path.basename(out)}.${process.pid}.previous`);
}

/** Moves existing outputs aside (overwrite on); returns the ones moved. */
async function setAside(outputs: string[]): Promise<string[]> {
  const moved: string[] = [];
  for (const out of outputs) {
    if ((await identity(out)) === null) continue;
    await rename(out, setAsidePath(out));
    moved.push(out);
  }
  return moved;
}

async function putBack(moved: string[]): Promise<void> {
  for (const out of moved) {
    await rm(out, { recursive: true, force: true }).catch(() => {});
    await rename(setAsidePath(out), out).catch(() => {});
  }
}

export async function runExportJob(p: ExportPayload, ctx: JobContext): Promise<ExportResult> {
  const outputs = exportOutputPaths(p.format, p.path);
  const moved = p.options.overwrite ? await setAside(outputs) : [];
  const before = new Map<string, string | null>();
  for (const out of outputs) before.set(out, await identity(out));
  try {
    const result = await runExport(p, {
      phase: (phase) => {
        ctx.checkCancelled();
        ctx.progress(phase, 0, 1);
      },
      batch: (stage, done, total) => {
        ctx.progress('verify', done, total, stage);
        ctx.checkCancelled();
      },
    });
    for (const out of moved) await rm(setAsidePath(out), { recursive: true, force: true }).catch(() => {});
    return result;
  } catch (err) {
    await removeExportLeftovers(outputs, before);
    await putBack(moved);
    // A runtime may wrap the cancel in its own error; the flag says what happened.
    if (ctx.cancelled()) throw new CancelledError();
    throw err;
  }
}
