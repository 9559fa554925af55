/** Accuracy-budget searches (jobs/budget-searches.ts): start, follow, cancel. */
import type { Studio } from '../studio-types.js';
import type { Handlers } from '../api/dispatch.js';

export function budgetHandlers(studio: Studio): Pick<Handlers, 'budget.start' | 'budget.get' | 'budget.cancel'> {
  return {
    'budget.start': (req) => studio.budgets.start(req),
    'budget.get': ({ id }) => studio.budgets.get(id),
    'budget.cancel': ({ id }) => ({ cancelled: studio.budgets.cancel(id) }),
  };
}
