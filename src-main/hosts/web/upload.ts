/**
 * File upload for the web host: a browser cannot tell the server where a
 * dropped file is, so it sends the bytes. POST /api/upload?batch=B&name=N
 * streams the body to imports/B/N in the user data folder (memory stays flat
 * whatever the size), written as N.part and renamed once complete, so an
 * interrupted upload leaves nothing that looks whole. Files sent with the
 * same batch land in one folder (model.json beside its weight shards).
 * The server checks the token and the origin before calling this.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat, statfs } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export const UPLOAD_PATH = '/api/upload';

/** Largest upload by default: 4 GiB (`studio serve --upload-limit SIZE` changes it). */
export const DEFAULT_UPLOAD_LIMIT = 4 * 1024 ** 3;
/** Disk space an upload under the default limit leaves free (the studio still writes runs and exports). */
export const UPLOAD_DISK_RESERVE = 1024 ** 3;

/**
 * The limit an upload meets: the one set with --upload-limit as it is;
 * otherwise the default, lowered to the free space of the uploads folder's
 * disk less UPLOAD_DISK_RESERVE (read at each upload, since space changes).
 */
export async function uploadLimitFor(importsDir: string, set: number | undefined): Promise<{ limit: number; why: string }> {
  if (set !== undefined) return { limit: set, why: 'studio serve --upload-limit' };
  const fs = await statfs(importsDir).catch(() => null);
  const free = fs ? fs.bavail * fs.bsize : Infinity;
  const limit = Math.max(0, Math.min(DEFAULT_UPLOAD_LIMIT, free - UPLOAD_DISK_RESERVE));
  return limit < DEFAULT_UPLOAD_LIMIT
    ? { limit, why: `the free space of ${importsDir}'s disk less ${UPLOAD_DISK_RESERVE / 1024 ** 3} GiB; studio serve --upload-limit sets one` }
    : { limit, why: 'the default; studio serve --upload-limit' };
}

function limitText(limit: number, why: string): string {
  return `the upload limit of ${limit} bytes (${(limit / 1024 ** 2).toFixed(1)} MiB; ${why})`;
}

export interface UploadResult {
  /** Absolute path of the stored file, for models.import / datasets.import. */
  path: string;
  size: number;
}

const BATCH = /^[A-Za-z0-9_-]{6,64}$/;

class UploadRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A plain file name: no folders, no hidden files, no control characters. */
export function checkUploadName(name: string | null): string {
  if (!name) throw new UploadRefused(400, 'the file name is missing (?name=…)');
  // eslint-disable-next-line no-control-regex
  if (name.length > 255 || name !== path.basename(name) || name.includes('\\') || name.startsWith('.') || /[\u0000-\u001f]/.test(name)) {
    throw new UploadRefused(400, `"${name}" is not a plain file name`);
  }
  return name;
}

export async function handleUpload(req: IncomingMessage, res: ServerResponse, importsDir: string, headers: Record<string, string>, setLimit?: number): Promise<void> {
  const reply = (status: number, body: unknown) => {
    if (res.headersSent) return;
    res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  try {
    const { limit, why } = await uploadLimitFor(importsDir, setLimit);
    // Refused before the body is read when its declared size is too large.
    const declared = req.headers['content-length'] === undefined ? null : Number(req.headers['content-length']);
    if (declared !== null && declared > limit) {
      res.writeHead(413, { ...headers, 'Content-Type': 'application/json', 'Cache-Control': 'no-store', Connection: 'close' });
      // Nothing of the body is read: the connection closes once the answer is out.
      res.end(JSON.stringify({ error: `the file is ${declared} bytes, over ${limitText(limit, why)}` }), () => req.destroy());
      return;
    }
    const result = await receive(req, importsDir, { limit, why });
    reply(200, result);
  } catch (err) {
    if (err instanceof UploadRefused && err.status === 413) {
      // A chunked body went over the limit: answer and stop reading it.
      if (!res.headersSent) {
        res.writeHead(413, { ...headers, 'Content-Type': 'application/json', 'Cache-Control': 'no-store', Connection: 'close' });
        // The rest of the body is read and dropped for a moment so the client sees the answer, then the connection goes.
        req.unpipe();
        req.resume();
        res.end(JSON.stringify({ error: err.message }), () => setTimeout(() => req.destroy(), 2000).unref());
      }
      return;
    }
    if (err instanceof UploadRefused) reply(err.status, { error: err.message });
    else reply(500, { error: `upload failed: ${err instanceof Error ? err.message : String(err)}` });
    // Whatever the client still sends is not wanted.
    req.resume();
  }
}

async function receive(req: IncomingMessage, importsDir: string, { limit, why }: { limit: number; why: string }): Promise<UploadResult> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const batch = url.searchParams.get('batch') ?? '';
  if (!BATCH.test(batch)) throw new UploadRefused(400, `batch must be 6 to 64 letters, digits, "-" or "_", got "${batch}"`);
  const name = checkUploadName(url.searchParams.get('name'));
  const dir = path.join(importsDir, batch);
  const dest = path.join(dir, name);
  if (await stat(dest).catch(() => null)) throw new UploadRefused(409, `${name} was already uploaded in this batch`);
  await mkdir(dir, { recursive: true });
  const partial = `${dest}.part`;
  const declared = req.headers['content-length'] === undefined ? null : Number(req.headers['content-length']);
  let size = 0;
  const count = async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) {
      size += chunk.length;
      if (size > limit) throw new UploadRefused(413, `${name} is over ${limitText(limit, why)}; nothing was kept`);
      yield chunk;
    }
  };
  try {
    // Through a PassThrough, so a refusal at the limit ends the pipeline without tearing the socket down before the 413 is sent.
    const source = new PassThrough();
    req.on('error', (e) => source.destroy(e));
    req.on('close', () => {
      if (!req.complete) source.destroy(Object.assign(new Error('the upload was interrupted'), { code: 'ECONNRESET' }));
    });
    req.pipe(source);
    await pipeline(source, count, createWriteStream(partial, { flags: 'wx' }));
    if (declared !== null && size !== declared) throw new UploadRefused(400, `${name}: received ${size} of ${declared} bytes; the upload was cut short`);
    await rename(partial, dest);
  } catch (err) {
    await rm(partial, { force: true });
    if (err instanceof UploadRefused) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UploadRefused(409, `${name} is being uploaded in this batch already`);
    if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET') throw new UploadRefused(400, `${name}: the upload was interrupted`);
    throw err;
  }
  return { path: dest, size };
}
