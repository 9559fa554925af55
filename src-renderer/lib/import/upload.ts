/**
 * Sending a dropped file's bytes to the web host (a browser cannot tell the
 * server where a file is): POST /api/upload (src-main/hosts/web/upload.ts)
 * with XMLHttpRequest, whose upload progress events drive the progress bar
 * (fetch has no upload progress). The token is the page's HttpOnly cookie,
 * sent with this same-origin request as with the API socket.
 */
export const UPLOAD_URL = '/api/upload';

export interface Uploaded {
  /** Where the host stored the file; import it from there. */
  path: string;
  size: number;
}

/** A fresh folder name for files dropped together (model.json beside its shards). */
export function newBatchId(): string {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return `drop-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export function uploadFile(file: Blob & { name: string }, batch: string, onprogress: (loaded: number, total: number) => void): Promise<Uploaded> {
  return new Promise<Uploaded>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${UPLOAD_URL}?batch=${encodeURIComponent(batch)}&name=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.responseType = 'text';
    xhr.upload.onprogress = (e) => onprogress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      let body: { path?: string; size?: number; error?: string } = {};
      try {
        body = JSON.parse(xhr.responseText) as typeof body;
      } catch {
        body = { error: xhr.responseText.trim() || `HTTP ${xhr.status}` };
      }
      if (xhr.status === 200 && typeof body.path === 'string') resolve({ path: body.path, size: body.size ?? file.size });
      else reject(new Error(`Uploading ${file.name} failed: ${body.error ?? `HTTP ${xhr.status}`}`));
    };
    xhr.onerror = () => reject(new Error(`Uploading ${file.name} failed: the studio host did not answer`));
    xhr.onabort = () => reject(new Error(`Uploading ${file.name} was cancelled`));
    xhr.send(file);
  });
}

/** Under Electron the preload tells where a dropped file is (webUtils.getPathForFile); elsewhere null. */
export function desktopPathFor(file: File): string | null {
  const bridge = (window as { studioFiles?: { pathForFile(f: File): string } }).studioFiles;
  if (!bridge) return null;
  const p = bridge.pathForFile(file);
  return p ? p : null;
}
