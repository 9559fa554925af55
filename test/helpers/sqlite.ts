/** Reads a studio database from outside the studio, as a test checking what a killed process left. */
import Database from 'better-sqlite3';

/** `PRAGMA integrity_check` of the database file: 'ok' when it is intact. */
export function integrityCheck(dbPath: string): string {
  const conn = new Database(dbPath);
  try {
    return conn.pragma('integrity_check', { simple: true }) as string;
  } finally {
    conn.close();
  }
}

/** Rows of a read-only query. */
export function queryAll<T>(dbPath: string, sql: string, ...params: unknown[]): T[] {
  const conn = new Database(dbPath, { readonly: true });
  try {
    return conn.prepare(sql).all(...params) as T[];
  } finally {
    conn.close();
  }
}
