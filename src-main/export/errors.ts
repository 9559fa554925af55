/**
 * Errors of the export side. One class for every format (each names the file
 * and, where it applies, the tensor), so the UI and the CLI can show them as is.
 */
import { LoweringError } from '../engine/lowering-error.js';

export type ExportErrorCode =
  /** The destination exists and overwrite was not asked for. */
  | 'exists'
  /** The destination cannot be written (folder missing, no permission, disk full). */
  | 'unwritable'
  /** The model or run holds something the format cannot express. */
  | 'unsupported'
  /** The file written does not say what the run's config says (audit). */
  | 'audit'
  /** The run cannot be exported (not done, missing records). */
  | 'run'
  /** The runtime could not load or run the file. */
  | 'verify';

export class ExportError extends Error {
  constructor(
    message: string,
    readonly code: ExportErrorCode,
    readonly details: { path?: string; tensor?: string; format?: string } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ExportError';
  }
}

/**
 * `f()`, with the engine's refusal to lower a run (LoweringError: an op, bit
 * width or bias the form cannot express, a missing range) thrown as the
 * ExportError it stands for: same message, code and details.
 */
export function lowered<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof LoweringError) throw new ExportError(e.message, e.code, e.details, { cause: e });
    throw e;
  }
}

/** {@link lowered} for an async step (the TFLite quantization observes the logits range on samples). */
export async function loweredAsync<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof LoweringError) throw new ExportError(e.message, e.code, e.details, { cause: e });
    throw e;
  }
}
