/** Turns an fs or SQLite error into the cause half of a StoreOpenError sentence. */

export function describeOpenFailure(err: unknown, busyTimeoutMs?: number): string {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  const detail = typeof e?.message === 'string' ? e.message : String(err);
  switch (code) {
    case 'SQLITE_BUSY':
    case 'SQLITE_BUSY_SNAPSHOT':
    case 'SQLITE_BUSY_RECOVERY':
    case 'SQLITE_LOCKED':
      return busyTimeoutMs === undefined
        ? 'it is locked by another process'
        : `it stayed locked by another process for longer than the ${busyTimeoutMs} ms busy timeout`;
    case 'SQLITE_NOTADB':
      return 'it is not a SQLite database';
    case 'SQLITE_CORRUPT':
      return 'the database file is corrupt';
    case 'SQLITE_READONLY':
    case 'SQLITE_READONLY_DIRECTORY':
    case 'SQLITE_READONLY_ROLLBACK':
    case 'SQLITE_PERM':
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return `the file or its folder is not writable or readable (${detail})`;
    case 'SQLITE_CANTOPEN':
      return `SQLite could not open it (${detail}); check that it is a file and that it and its folder are readable and writable`;
    case 'SQLITE_FULL':
    case 'ENOSPC':
      return 'the disk is full';
    case 'EISDIR':
      return 'it is a directory, not a database file';
    default:
      return code ? `${detail} (${code})` : detail;
  }
}
