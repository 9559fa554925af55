/**
 * The one error class of the Keras readers (.h5 / .hdf5 / .keras): every
 * problem names the file and says what is wrong, so the UI can show it as is.
 */
export class KerasModelError extends Error {
  constructor(
    /** The file the user gave (the .h5 or .keras). */
    readonly file: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${problem}`, options);
    this.name = 'KerasModelError';
  }
}
