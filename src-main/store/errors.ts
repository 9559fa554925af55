/**
 * Errors the store throws on purpose. The API layer maps them to its error
 * codes (StoreOpenError -> startup failure, StoreNotFoundError -> not_found,
 * StoreConflictError -> conflict); anything else is a bug or an I/O failure.
 */

/** The database file could not be opened; the message is one sentence naming the path and the cause. */
export class StoreOpenError extends Error {
  override name = 'StoreOpenError';
  constructor(
    readonly path: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`Cannot open the store at ${path}: ${reason}.`, options);
  }
}

/** The file was written by a newer build; it is refused before anything is written to it. */
export class SchemaTooNewError extends StoreOpenError {
  override name = 'SchemaTooNewError';
  constructor(
    path: string,
    readonly fileVersion: number,
    readonly supportedVersion: number,
  ) {
    super(
      path,
      `its schema version is ${fileVersion} but this build only understands up to version ${supportedVersion}, so it was left untouched (use a newer build of the studio)`,
    );
  }
}

/** A row the caller referred to does not exist (a model, dataset or parent run). */
export class StoreNotFoundError extends Error {
  override name = 'StoreNotFoundError';
}

/** The change conflicts with the stored state (duplicate sha256, deleting something in use or in flight). */
export class StoreConflictError extends Error {
  override name = 'StoreConflictError';
}
