/**
 * `studio` — the CLI over the same studio the desktop and web hosts open:
 * same store, same engine worker, same API handlers (called through
 * dispatch, so inputs are validated exactly as from the UI).
 */
import { Command, Option } from 'commander';
import path from 'node:path';
import { mib, parseBytes } from './engine/memory.js';
import { rendererDir, resolveDbPath } from './paths.js';
import { openStudio } from './studio.js';
import { formatTable } from './cli/format.js';
import { startWebHost } from './hosts/web/server.js';

import { applyComputeOptions, callApi, CliError, print, withStudio, type GlobalOptions } from './cli/common.js';
import { registerRunCommands } from './cli/run-commands.js';
import { registerImportCommands } from './cli/import.js';
import { libraryFolders } from './library/folders.js';

const pct = (x: number | null) => (x === null ? '—' : `${(x * 100).toFixed(2)}%`);

export { callApi } from './cli/common.js';

const budgetSource = { request: 'asked for', env: 'set by --memory-budget or $STUDIO_MEMORY_BUDGET', default: 'default; --memory-budget or $STUDIO_MEMORY_BUDGET' } as const;

export function buildCli(): Command {
  const program = new Command('studio')
    .description('Quantization Calibration Studio: PTQ calibration, QAT and export of TensorFlow.js / Keras models')
    .option('--db <path>', 'SQLite database (default: $STUDIO_DB or studio.sqlite in the user data folder)')
    .addOption(new Option('--backend <name>', 'TensorFlow.js backend').choices(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'))
    .option('--memory-budget <size>', 'memory the native passes may hold, e.g. 2G (default: $STUDIO_MEMORY_BUDGET or 1G); batch sizes follow it')
    .option('--execution-provider <name>', 'onnxruntime execution provider: cpu, or cuda / dml / coreml where onnxruntime-node ships it (default: $STUDIO_EXECUTION_PROVIDER or cpu; falls back to cpu with the reason)')
    .showHelpAfterError();

  program
    .command('info')
    .description('version, active backend (and why better ones were not used), database')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const info = await callApi(studio, 'app.info', {});
        print(!!o.json, info, () =>
          [
            `Quantization Calibration Studio ${info.version} (node ${info.node})`,
            `backend   ${info.backend.name}${info.backend.threads > 1 ? ` (${info.backend.threads} threads)` : ''}`,
            ...info.backend.fallbacks.map((f) => `          not ${f.name}: ${f.reason}`),
            `database  ${info.dbPath} (schema ${info.schemaVersion})`,
            `compute   onnxruntime-node (runtime choice ${info.compute.runtime}, execution provider ${info.compute.executionProvider}); memory budget ${mib(info.compute.memoryBudget.bytes)} (${budgetSource[info.compute.memoryBudget.source]})`,
          ].join('\n'),
        );
      }),
    );

  program
    .command('models')
    .description('models in the library, and the built-ins that can be added')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const models = await callApi(studio, 'models.list', {});
        const builtins = await callApi(studio, 'models.builtins', {});
        print(!!o.json, { models, builtins }, () =>
          [
            formatTable(
              ['id', 'name', 'source', 'input', 'classes', 'layers', 'params'],
              models.map((m) => [m.id, m.name, m.source, m.inputShape.join('x'), m.numClasses, m.layerCount, m.paramCount.toLocaleString('en-US')]),
            ),
            '',
            'built-ins: ' + builtins.map((b) => `${b.name}${b.imported ? ' (added)' : ''}`).join(', '),
          ].join('\n'),
        );
      }),
    );

  program
    .command('datasets')
    .description('datasets in the library')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const datasets = await callApi(studio, 'datasets.list', {});
        print(!!o.json, datasets, () =>
          formatTable(
            ['id', 'name', 'format', 'samples', 'input', 'classes'],
            datasets.map((d) => [d.id, d.name, d.format, d.count, d.inputShape.join('x'), d.numClasses]),
          ),
        );
      }),
    );

  program
    .command('runs')
    .description('runs in the store, newest first')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const runs = await callApi(studio, 'runs.list', {});
        print(!!o.json, runs, () =>
          runs.length === 0
            ? 'No runs yet. Start one with `studio calibrate --model <id> --data <id>` or from the studio window.'
            : formatTable(
                ['id', 'name', 'kind', 'status', 'float', 'quant', 'created'],
                runs.map((r) => [r.id, r.name, r.kind, r.status, pct(r.floatAccuracy), pct(r.quantAccuracy), r.createdAt]),
              ),
        );
      }),
    );

  registerRunCommands(program);
  registerImportCommands(program);

  program
    .command('serve')
    .description('start the web host on 127.0.0.1 and print the URL (with its token) to open in a browser')
    .option('--port <n>', 'port (0 = any free port)', '0')
    .option('--token <t>', 'use this token instead of a random one (for scripted tests)')
    .option('--export-dir <dir>', 'the one folder the browser may export into (default: <user data folder>/exports, created on demand)')
    .option('--import-dir <dir>', 'a folder the browser may import models and datasets from, besides its uploads (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--upload-limit <size>', 'largest upload, e.g. 500M or 2G (default 4G)')
    .action(async (o: { port: string; token?: string; exportDir?: string; importDir: string[]; uploadLimit?: string }, cmd: Command) => {
      const opts = cmd.optsWithGlobals() as GlobalOptions;
      applyComputeOptions(opts);
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--port must be an integer 0..65535, got "${o.port}"`);
      let uploadLimit: number | undefined;
      if (o.uploadLimit !== undefined) {
        try {
          uploadLimit = parseBytes(o.uploadLimit);
        } catch (e) {
          throw new CliError(`--upload-limit: ${(e as Error).message}`);
        }
      }
      const studio = await openStudio({ dbPath: resolveDbPath(opts.db), host: 'web', backend: opts.backend, ...(o.exportDir ? { exportDir: o.exportDir } : {}) });
      let host;
      try {
        host = await startWebHost({ handlers: studio.handlers, events: studio.events, rendererDir: rendererDir(), port, importsDir: libraryFolders(studio.store.path).imports, importDirs: o.importDir.map((d) => path.resolve(d)), ...(uploadLimit !== undefined ? { uploadLimit } : {}), ...(o.token ? { token: o.token } : {}) });
      } catch (err) {
        await studio.close();
        throw err;
      }
      const info = studio.info();
      process.stdout.write(
        `Quantization Calibration Studio ${info.version} — backend ${info.backend.name}, database ${info.dbPath}\n` +
          `Exports go to ${studio.exports.policy.folder}\n` +
          `Open in your browser: ${host.openUrl}\n`,
      );
      const stop = async () => {
        await host.close();
        await studio.close();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await new Promise(() => {});
    });

  return program;
}

export async function runCli(argv: string[]): Promise<void> {
  const program = buildCli();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.stderr.write(`studio: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
