/** The one error class of dataset reading, sampling and batching; it names the file at fault. */
export class DatasetError extends Error {
  constructor(
    /** The file (or folder) the problem is in; empty when no file is involved. */
    readonly file: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(file ? `${file}: ${problem}` : problem, options);
    this.name = 'DatasetError';
  }
}
