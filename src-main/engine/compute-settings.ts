/**
 * What `studio info` and the status bar say about where the engine computes,
 * read from the same environment the engine worker reads (worker threads
 * inherit process.env): the memory budget, the runtime choice for every pass
 * and the execution provider asked for.
 */
import { memoryBudget } from './memory.js';
import { executionProviderChoice, runtimeChoiceFromEnv, RUNTIME_ENV, type RuntimeChoice } from './native/session.js';

export interface ComputeSettings {
  memoryBudget: { bytes: number; source: 'request' | 'env' | 'default' };
  runtime: RuntimeChoice;
  executionProvider: string;
}

export function computeSettings(env: NodeJS.ProcessEnv = process.env): ComputeSettings {
  return {
    memoryBudget: memoryBudget(undefined, env),
    runtime: runtimeChoiceFromEnv(RUNTIME_ENV, env),
    executionProvider: executionProviderChoice(undefined, env).requested,
  };
}
