/**
 * Where an export may be written. The desktop app and the CLI take any
 * absolute path (the desktop picks it in a save dialog). The web host serves
 * a browser, which must not name arbitrary files on this machine: there,
 * exports go only into one folder chosen when the host started
 * (`studio serve --export-dir DIR`), created on demand. A path is checked
 * after resolving `..` and symlinks, so neither leads out of the folder.
 */
import { lstat, mkdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import { ApiError } from '../api/dispatch.js';

export interface ExportDestinationPolicy {
  /** Absolute folder every export must be inside; null: any absolute path. */
  folder: string | null;
}

/** True if `child` is strictly inside `parent` (both absolute and normalized). */
export function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** `p` with symlinks resolved: the longest existing prefix through realpath, the rest appended; an existing final symlink followed too. */
async function resolveLinks(p: string): Promise<string> {
  const rest: string[] = [];
  let at = p;
  for (;;) {
    const info = await lstat(at).catch(() => null);
    if (info) {
      const real = await realpath(at).catch(() => at);
      return path.join(real, ...rest);
    }
    const up = path.dirname(at);
    if (up === at) return p;
    rest.unshift(path.basename(at));
    at = up;
  }
}

/**
 * The absolute path an export of `requested` goes to, or an ApiError
 * ('invalid_input') saying why not. Under a folder policy a relative path
 * is a name inside the folder.
 */
export async function resolveExportPath(policy: ExportDestinationPolicy, requested: string): Promise<string> {
  if (policy.folder === null) {
    if (!path.isAbsolute(requested)) throw new ApiError('invalid_input', `export path must be absolute, got ${requested}`);
    return path.normalize(requested);
  }
  try {
    await mkdir(policy.folder, { recursive: true });
  } catch (e) {
    throw new ApiError('failed', `cannot create the export folder ${policy.folder}: ${(e as Error).message}`);
  }
  const folder = await realpath(policy.folder);
  const lexical = path.resolve(folder, requested);
  const real = await resolveLinks(lexical);
  if (!isInside(folder, real)) {
    throw new ApiError(
      'invalid_input',
      `${requested} is outside the export folder ${policy.folder}${real !== lexical ? ` (it resolves to ${real})` : ''}; this host writes exports only inside that folder (choose it with studio serve --export-dir DIR)`,
    );
  }
  return real;
}
