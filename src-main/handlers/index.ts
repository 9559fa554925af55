/** All API handlers, one module per domain, assembled into the contract's shape. */
import type { Studio } from '../studio-types.js';
import type { Handlers } from '../api/dispatch.js';
import { appHandlers } from './app.js';
import { pickPathHandlers } from './pick-path.js';
import { datasetHandlers } from './datasets.js';
import { modelHandlers } from './models.js';
import { runHandlers } from './runs.js';
import { runDetailHandlers } from './run-details.js';
import { exportHandlers } from './exports.js';
import { budgetHandlers } from './budget.js';
import { sensitivityHandlers } from './sensitivity.js';

export function createHandlers(studio: Studio): Handlers {
  return {
    ...appHandlers(studio),
    ...pickPathHandlers(),
    ...modelHandlers(studio),
    ...datasetHandlers(studio),
    ...runHandlers(studio),
    ...runDetailHandlers(studio),
    ...exportHandlers(studio),
    ...budgetHandlers(studio),
    ...sensitivityHandlers(studio),
  };
}
