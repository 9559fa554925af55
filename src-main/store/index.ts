/** The run store: SQLite persistence of models, datasets, runs and their results. */
export { openStore, Store, DEFAULT_BUSY_TIMEOUT_MS, type OpenStoreOptions } from './store.js';
export { SCHEMA_VERSION } from './migrations.js';
export { StoreOpenError, SchemaTooNewError, StoreNotFoundError, StoreConflictError } from './errors.js';
export { INTERRUPTED_QUEUED, INTERRUPTED_RUNNING } from './recovery.js';
export type { NewModel, ModelArtifact } from './models.js';
export type { NewDataset, StoredDataset } from './datasets.js';
export type { NewRun, RunMetrics, FinishRun, DeletedRun } from './runs.js';
export type { ChannelVectors, TensorResult, Histogram, RunResults } from './tensors.js';
export type { CurvePoint, QuantizerRange } from './curves.js';
export type { NewExport, ExportRecord } from './exports.js';
