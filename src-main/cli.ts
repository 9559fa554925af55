/**
 * `studio` — the CLI over the same studio the desktop and web hosts open:
 * same store, same engine worker, same API handlers (called through
 * dispatch, so inputs are validated exactly as from the UI).
 */
import { Command, CommanderError, Option } from 'commander';
import path from 'node:path';
import { mib, parseBytes } from './engine/memory.js';
import { rendererDir, resolveDbPath } from './paths.js';
import { appVersion, openStudio } from './studio.js';
import { formatTable } from './cli/format.js';

import { applyComputeOptions, callApi, print, withStudio, type GlobalOptions } from './cli/common.js';
import { CliError, EXIT, UsageError, errorReport } from './cli/errors.js';
import { registerModelCommands } from './cli/models.js';
import { registerRunCommands } from './cli/run-commands.js';
import { registerRunsCommands } from './cli/runs.js';
import { registerImportCommands } from './cli/import.js';
import { registerBudget } from './cli/budget.js';
import { libraryFolders } from './library/folders.js';

export { callApi } from './cli/common.js';

const budgetSource = { request: 'asked for', env: 'set by --memory-budget or $STUDIO_MEMORY_BUDGET', default: 'default; --memory-budget or $STUDIO_MEMORY_BUDGET' } as const;

export function buildCli(): Command {
  const program = new Command('studio')
    .description('Quantization Calibration Studio: PTQ calibration, QAT and export of TensorFlow.js / Keras models')
    .option('--db <path>', 'SQLite database (default: $STUDIO_DB or studio.sqlite in the user data folder)')
    .addOption(new Option('--backend <name>', 'TensorFlow.js backend').choices(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'))
    .option('--memory-budget <size>', 'memory the native passes may hold, e.g. 2G (default: $STUDIO_MEMORY_BUDGET or 1G); batch sizes follow it')
    .option('--execution-provider <name>', 'onnxruntime execution provider: cpu, or cuda / dml / coreml where onnxruntime-node ships it (default: $STUDIO_EXECUTION_PROVIDER or cpu; falls back to cpu with the reason)')
    .version(appVersion(), '-V, --version', 'print the version');

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
    .command('targets')
    .description('the export targets a run can be planned and simulated for (calibrate --target NAME), with their rules')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const targets = await callApi(studio, 'app.targets', {});
        print(!!o.json, targets, () => targets.map((t) => [`${t.name}  ${t.label} (${t.format}; runs in ${t.runtime})`, `  ${t.summary}`, ...t.rules.map((r) => `  - ${r}`), `  sources: ${t.sources.join(', ')}`].join('\n')).join('\n\n'));
      }),
    );

  registerModelCommands(program);

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

  registerRunsCommands(program);
  registerRunCommands(program);
  registerImportCommands(program);
  registerBudget(program);

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
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be an integer 0..65535, got "${o.port}"`);
      let uploadLimit: number | undefined;
      if (o.uploadLimit !== undefined) {
        try {
          uploadLimit = parseBytes(o.uploadLimit);
        } catch (e) {
          throw new UsageError(`--upload-limit: ${(e as Error).message}`);
        }
      }
      const studio = await openStudio({ dbPath: resolveDbPath(opts.db), host: 'web', backend: opts.backend, ...(o.exportDir ? { exportDir: o.exportDir } : {}) });
      let host;
      try {
        // Loaded here: the other commands (a job's whole process is timed) do not need the web server.
        const { startWebHost } = await import('./hosts/web/server.js');
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

/** Every command of the tree, the program first. */
function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(allCommands)];
}

/** `studio runs compare [options] <a> <b>`: the command's name under its parents, and its usage. */
export function usageLine(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return `${names.join(' ')} ${cmd.usage()}`;
}

/**
 * Runs the CLI and sets the exit code: 0 done, 1 failed (a call, a run, an
 * export), 2 usage error (with the command's usage line), 130 interrupted
 * by Ctrl-C after the job was cancelled. With --json anywhere on the line,
 * errors go to stderr as {"error": {"code", "message", …}}.
 */
export async function runCli(argv: string[]): Promise<void> {
  const program = buildCli();
  const json = argv.slice(2).includes('--json');
  let current: Command = program;
  for (const cmd of allCommands(program)) {
    // Commander's own messages are replaced by ours (one line and the usage, or JSON).
    cmd.exitOverride().configureOutput({ outputError: () => {} });
    cmd.hook('preAction', (_self, action) => {
      current = action;
    });
    cmd.hook('preSubcommand', (_self, sub) => {
      current = sub;
    });
  }
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return; // --help, --version
      // `studio` alone shows the help and ends as a usage error too.
      const message = err.code === 'commander.help' ? 'a command is needed' : err.message.replace(/^error: /, '');
      process.stderr.write(errorReport(new UsageError(message), json, usageLine(current)));
      process.exitCode = EXIT.usage;
      return;
    }
    process.stderr.write(errorReport(err, json, usageLine(current)));
    process.exitCode = err instanceof CliError ? err.exitCode : EXIT.failed;
  }
}
