/**
 * The export job as the engine worker runs it: runExport with its steps and
 * verification batches turned into progress, a cancel checked at every step
 * and after every batch. The payload's path is the staging path the export
 * job manager chose beside the destination (export-staging.ts): the writer
 * writes, audits and verifies that copy, and the destination itself is never
 * touched here. When the job fails or is cancelled, whatever it put on disk
 * is removed again: the staging file (or folder), the params CSV beside it,
 * and temporary files of this process that an interrupted write left.
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { runExport, type ExportPayload, type ExportResult } from '../export/index.js';
import { exportOutputPaths } from '../export/formats.js';
import { pauseForTest } from './export-staging.js';
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

export async function runExportJob(p: ExportPayload, ctx: JobContext): Promise<ExportResult> {
  const outputs = exportOutputPaths(p.format, p.path);
  const before = new Map<string, string | null>();
  for (const out of outputs) before.set(out, await identity(out));
  try {
    const result = await runExport(p, {
      phase: (phase) => {
        ctx.checkCancelled();
        pauseForTest(phase);
        ctx.progress(phase, 0, 1);
      },
      batch: (stage, done, total) => {
        ctx.progress('verify', done, total, stage);
        ctx.checkCancelled();
      },
    });
    ctx.checkCancelled();
    return result;
  } catch (err) {
    await removeExportLeftovers(outputs, before);
    // A runtime may wrap the cancel in its own error; the flag says what happened.
    if (ctx.cancelled()) throw new CancelledError();
    throw err;
  }
}
