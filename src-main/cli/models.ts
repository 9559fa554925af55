/** `studio models [list]` and `studio models add-builtin NAME`: the library's models and the built-ins. */
import type { Command } from 'commander';
import { callApi, print, withStudio } from './common.js';
import { formatTable } from './format.js';
import { describeModel } from './import.js';

export function registerModelCommands(program: Command): void {
  const models = program.command('models').description('models in the library: list (default), add-builtin');

  models
    .command('list', { isDefault: true })
    .description('models in the library, and the built-ins that can be added')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const list = await callApi(studio, 'models.list', {});
        const builtins = await callApi(studio, 'models.builtins', {});
        print(!!o.json, { models: list, builtins }, () =>
          [
            formatTable(
              ['id', 'name', 'source', 'input', 'classes', 'layers', 'params'],
              list.map((m) => [m.id, m.name, m.source, m.inputShape.join('x'), m.numClasses, m.layerCount, m.paramCount.toLocaleString('en-US')]),
            ),
            '',
            'built-ins (add one with `studio models add-builtin NAME`):',
            ...builtins.map((b) => `  ${b.name}${b.imported ? ' (added)' : ''}: ${b.description}`),
          ].join('\n'),
        );
      }),
    );

  models
    .command('add-builtin')
    .description('add a built-in model (see `studio models`) to the library, with its seeded initial weights')
    .argument('<name>', 'the built-in, e.g. fashion_cnn')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { json?: boolean }, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const before = new Set((await callApi(studio, 'models.list', {})).map((m) => m.id));
        const model = await callApi(studio, 'models.importBuiltin', { name });
        print(!!o.json, model, () => describeModel(model, !before.has(model.id)));
      }),
    );
}
