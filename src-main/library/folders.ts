/**
 * The studio's own folders beside its database (the user data folder by
 * default, see paths.ts; a --db elsewhere keeps its copies beside it, so a
 * test or a second library stays self-contained):
 *   models/<sha256>/   copies of imported model files, one folder per content hash
 *   imports/<batch>/   files uploaded through the web host, before they are imported
 */
import path from 'node:path';

export interface LibraryFolders {
  root: string;
  models: string;
  imports: string;
}

export function libraryFolders(dbPath: string): LibraryFolders {
  const root = path.dirname(path.resolve(dbPath));
  return { root, models: path.join(root, 'models'), imports: path.join(root, 'imports') };
}

/** True when `p` lies inside `dir` (not `dir` itself). */
export function isInside(dir: string, p: string): boolean {
  const rel = path.relative(path.resolve(dir), path.resolve(p));
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}
