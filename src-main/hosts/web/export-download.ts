/**
 * GET /api/exports/<id>/file: the written file of one stored export, so a
 * browser on the web host can save it to its own disk. Only paths the store
 * records for an export are served (looked up through `exports.get`), never
 * a path from the request; a tfjs export (a folder) is refused with a reason.
 */
import { createReadStream, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import path from 'node:path';
import { dispatch, type Handlers } from '../../api/dispatch.js';

export const EXPORT_DOWNLOAD_PATTERN = /^\/api\/exports\/(\d+)\/file$/;

/** The URL the renderer links to for export `id`. */
export function exportDownloadPath(id: number): string {
  return `/api/exports/${id}/file`;
}

function fail(res: ServerResponse, headers: Record<string, string>, status: number, message: string): void {
  res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(`${message}\n`);
}

export async function handleExportDownload(id: number, res: ServerResponse, handlers: Handlers, headers: Record<string, string>, headOnly: boolean): Promise<void> {
  const result = await dispatch(handlers, 'exports.get', { id });
  if (!result.ok) return fail(res, headers, result.error.code === 'not_found' ? 404 : 400, result.error.message);
  const record = result.output as { path: string; format: string };
  let size: number;
  try {
    const stat = statSync(record.path);
    if (stat.isDirectory()) return fail(res, headers, 409, `export ${id} (${record.format}) is a folder (${path.basename(record.path)}); only single-file exports can be downloaded`);
    size = stat.size;
  } catch (err) {
    return fail(res, headers, 410, `the file of export ${id} (${path.basename(record.path)}) is gone from disk (${(err as NodeJS.ErrnoException).code})`);
  }
  const name = path.basename(record.path).replace(/[^\w.+-]/g, '_');
  res.writeHead(200, {
    ...headers,
    'Content-Type': 'application/octet-stream',
    'Content-Length': String(size),
    'Content-Disposition': `attachment; filename="${name}"`,
    'Cache-Control': 'no-store',
  });
  if (headOnly) return void res.end();
  createReadStream(record.path)
    .on('error', () => res.destroy())
    .pipe(res);
}
