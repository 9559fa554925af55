#!/usr/bin/env node
// The `studio` command. The TypeScript sources are compiled by `npm run build`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/src-main/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write('studio: not built yet — run `npm run build` in ' + fileURLToPath(new URL('..', import.meta.url)) + '\n');
  process.exit(1);
}
// The engine worker starts importing the engine while this thread imports the CLI (src-main/jobs/engine-spawn.ts).
const { prestartEngineWorker } = await import(new URL('../dist/src-main/jobs/engine-spawn.js', import.meta.url).href);
prestartEngineWorker(process.argv);
const { runCli } = await import(cli.href);
await runCli(process.argv);
