/**
 * `--config run.json`: a run's config from a file, under the flags given on
 * the command line. The file holds a run config (the `config` of `studio runs
 * show N --json`, or that whole output, so a stored run can be run again);
 * any part may be left out, nested parts too (`{"weights": {"bits": 4}}`).
 * Problems name the file, before anything is started.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describeZodError } from '../api/dispatch.js';
import { RunConfig } from '../api/run-config.js';
import { UsageError } from './errors.js';

export type ConfigTree = Record<string, unknown>;

const isPlainObject = (v: unknown): v is ConfigTree => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `over` merged into `base`: objects key by key, anything else (arrays too) replaced. */
export function deepMerge(base: ConfigTree, over: ConfigTree): ConfigTree {
  const out: ConfigTree = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    out[key] = isPlainObject(value) && isPlainObject(out[key]) ? deepMerge(out[key] as ConfigTree, value) : value;
  }
  return out;
}

/** Reads and checks a config file; `defaults` fill what it leaves out (for the check only). */
export function readConfigFile(file: string, defaults: ConfigTree): ConfigTree {
  const where = path.resolve(file);
  let text: string;
  try {
    text = readFileSync(where, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`--config ${where}: ${code === 'ENOENT' ? 'not found' : code === 'EISDIR' ? 'is a folder, not a JSON file' : (e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--config ${where}: not valid JSON (${(e as Error).message})`);
  }
  // `studio runs show N --json` prints the run; its config is under "config".
  const tree = isPlainObject(parsed) && isPlainObject(parsed['config']) ? parsed['config'] : parsed;
  if (!isPlainObject(tree)) throw new UsageError(`--config ${where}: expected a JSON object with the run's config, got ${Array.isArray(tree) ? 'an array' : typeof tree}`);
  // Checked with placeholder ids where the file names none: the flags may give them.
  const check = RunConfig.safeParse(deepMerge({ modelId: 1, datasetId: 1, ...defaults }, tree));
  if (!check.success) throw new UsageError(`--config ${where}: ${describeZodError(check.error)}`);
  return tree;
}
