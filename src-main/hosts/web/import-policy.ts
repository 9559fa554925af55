/**
 * What a browser may import on the web host: only files inside the uploads
 * folder and the folders named with `studio serve --import-dir DIR`
 * (repeatable). A path is checked after resolving `..` and symlinks; one
 * outside is refused before anything reads it, with a message that names
 * only the allowed folders (never whether the path exists or what is in it).
 * Errors of an import inside an allowed folder pass through, and any path
 * outside the allowed folders in them is replaced by "(a path outside the
 * import folders)".
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { ApiError, type Handlers } from '../../api/dispatch.js';
import { isInside } from '../../jobs/export-job-paths.js';

function real(p: string): string {
  // The longest existing prefix through realpath, so a symlink cannot lead out.
  const rest: string[] = [];
  let at = p;
  for (;;) {
    try {
      return path.join(realpathSync(at), ...rest);
    } catch {
      const up = path.dirname(at);
      if (up === at) return p;
      rest.unshift(path.basename(at));
      at = up;
    }
  }
}

export function allowedImportPath(folders: readonly string[], requested: string): boolean {
  if (!path.isAbsolute(requested)) return false;
  const target = real(path.normalize(requested));
  return folders.some((f) => {
    const folder = real(path.resolve(f));
    return target === folder || isInside(folder, target);
  });
}

/** Replaces absolute paths outside `folders` in a message. */
export function scrubPaths(folders: readonly string[], message: string): string {
  return message.replace(/(?:[A-Za-z]:)?[/\\][^\s:;,'"()]+/g, (p) => (allowedImportPath(folders, p) ? p : '(a path outside the import folders)'));
}

/** The handlers with models.import and datasets.import confined to `folders`. */
export function confineImports(handlers: Handlers, folders: readonly string[]): Handlers {
  const confined = <K extends 'models.import' | 'datasets.import'>(name: K): Handlers[K] =>
    (async (req: { path: string }) => {
      if (!allowedImportPath(folders, req.path)) {
        throw new ApiError('invalid_input', `this web host imports only files inside ${folders.join(', ')} (upload the file, or start it with studio serve --import-dir DIR)`);
      }
      try {
        return await (handlers[name] as (r: unknown) => unknown)(req);
      } catch (err) {
        if (err instanceof ApiError) throw new ApiError(err.code, scrubPaths(folders, err.message));
        throw new Error(scrubPaths(folders, err instanceof Error ? err.message : String(err)));
      }
    }) as unknown as Handlers[K];
  return { ...handlers, 'models.import': confined('models.import'), 'datasets.import': confined('datasets.import') };
}
