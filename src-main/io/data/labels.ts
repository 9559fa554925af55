/** Checks shared by every reader for class labels. */
import { DatasetError } from './errors.js';

/** Labels must be 0..255 (the studio's class limit); `file` names the labels' source. */
export function checkLabelValues(labels: Int32Array, file: string): void {
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i]!;
    if (v < 0 || v > 255) throw new DatasetError(file, `label ${i} is ${v}; class labels must be between 0 and 255`);
  }
}

/** Labels must be below numClasses when it is set; returns the largest label (−1 when none). */
export function checkLabelRange(labels: Int32Array, file: string, numClasses: number | undefined, source = 'preprocessing.numClasses'): number {
  let max = -1;
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i]!;
    if (numClasses !== undefined && v >= numClasses) {
      throw new DatasetError(file, `label ${i} is ${v}, outside the ${numClasses} classes set in ${source} (0..${numClasses - 1})`);
    }
    if (v > max) max = v;
  }
  return max;
}
