/**
 * The engine's refusal to lower a run into a form that cannot express it: an
 * op the ONNX lowering has no form for, a bit width or range the target
 * stores otherwise, an int32 bias that overflows, a missing range. It names
 * the tensor (and the format, where one is meant); the writers in export/
 * turn it into their ExportError with the same message, code and details.
 */

export type LoweringErrorCode =
  /** The model or run holds something the target form cannot express. */
  | 'unsupported'
  /** The run lacks what the lowering needs (a quantizer's qparams). */
  | 'run';

export class LoweringError extends Error {
  constructor(
    message: string,
    readonly code: LoweringErrorCode,
    readonly details: { tensor?: string; format?: string } = {},
  ) {
    super(message);
    this.name = 'LoweringError';
  }
}
