import type { Studio } from '../studio-types.js';
import type { Handlers } from '../api/dispatch.js';
import { profileRules, TARGETS } from '../engine/targets/index.js';

export function appHandlers(studio: Studio): Pick<Handlers, 'app.info' | 'app.storeVersion' | 'app.targets'> {
  return {
    'app.info': () => studio.info(),
    'app.targets': () => Object.values(TARGETS).map((t) => ({ name: t.name, label: t.label, summary: t.summary, format: t.format, runtime: t.runtime, rules: profileRules(t), sources: [...t.sources] })),
    'app.storeVersion': () => ({ version: studio.store.dataVersion() }),
  };
}
