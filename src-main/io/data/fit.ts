/**
 * Whether a dataset fits a model: kept apart from the readers so the API
 * boundary can check a run's dataset and model from their stored summaries,
 * before a run exists, with the very rule the run applies.
 */
import { DatasetError } from './errors.js';

export interface FitCheck {
  /** The model wants another shape of the same values (e.g. [784] for [28,28,1]); makeBatches reshapes. */
  reshape: boolean;
  from: number[];
  to: number[];
}

const squeeze = (s: number[]) => s.filter((d) => d !== 1);

/**
 * Whether a model with this input shape (no batch axis) and number of outputs
 * can take the dataset. Reshaping is allowed when it keeps the element order:
 * to a flat vector (as Keras Flatten does) or when the shapes differ only by
 * axes of size 1. Throws a DatasetError giving both shapes otherwise.
 */
export function checkFitsModel(ds: { inputShape: number[]; numClasses: number; path: string }, inputShape: number[], numClasses: number): FitCheck {
  const from = ds.inputShape;
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const same = from.length === inputShape.length && from.every((d, i) => d === inputShape[i]);
  const fit: FitCheck = { reshape: !same, from, to: inputShape };
  if (!same) {
    const orderKept = inputShape.length === 1 || squeeze(from).join(',') === squeeze(inputShape).join(',');
    if (size(from) !== size(inputShape)) {
      throw new DatasetError(ds.path, `dataset images are [${from.join(',')}] (${size(from)} values) but the model expects inputs of shape [${inputShape.join(',')}] (${size(inputShape)} values)`);
    }
    if (!orderKept) {
      throw new DatasetError(ds.path, `dataset images are [${from.join(',')}] (channels last) but the model expects [${inputShape.join(',')}]; the sizes match but reshaping would scramble the layout`);
    }
  }
  if (numClasses < ds.numClasses) {
    throw new DatasetError(ds.path, `dataset has ${ds.numClasses} classes but the model outputs ${numClasses} scores; labels ${numClasses}..${ds.numClasses - 1} could never be predicted`);
  }
  return fit;
}
