/** `studio explain`: every quantization variable a QAT model of this model carries, Keras's beside the studio's. */
import type { Command } from 'commander';
import type { QuantVariable, VariableExplanation } from '../api/contract.js';
import { callApi, print, withStudio } from './common.js';
import { configFrom } from './run-options.js';
import { formatTable } from './format.js';

const n = (x: number) => x.toLocaleString('en-US');
const shape = (s: number[]) => (s.length === 0 ? 'scalar' : `[${s.join(',')}]`);

function table(vars: QuantVariable[]): string {
  return formatTable(['layer', 'variable', 'shape', 'trainable', 'role'], vars.map((v) => [v.layer, v.name, shape(v.shape), v.trainable ? 'yes' : 'no', v.role]));
}

export function formatExplanation(e: VariableExplanation): string {
  const t = (x: VariableExplanation['float']) => `${n(x.total)} (trainable ${n(x.trainable)}, non-trainable ${n(x.nonTrainable)})`;
  return [
    `float model parameters: ${t(e.float)}`,
    '',
    `Keras / tfmot quantize_model (default 8-bit scheme) adds ${n(e.keras.totals.total - e.float.total)} non-trainable variables → ${t(e.keras.totals)}:`,
    table(e.keras.variables),
    '',
    `This studio, for the chosen config, keeps ${n(e.studio.totals.total - e.float.total)} quantization values → ${t(e.studio.totals)}:`,
    table(e.studio.variables),
    ...(e.studio.folded.length ? ['', `BatchNorm folded before QAT: ${e.studio.folded.map((f) => `${f.bn} → ${f.into}`).join(', ')}`] : []),
    '',
    'How each layer is quantized:',
    formatTable(['layer', 'quantization', 'range', 'note'], e.studio.layers.map((l) => [l.layer, l.kind, l.range ?? '–', l.kernel ? `${l.note} Kernel ${l.kernel}.` : l.note])),
  ].join('\n');
}

export function registerExplain(program: Command, addRunOptions: (c: Command) => Command): void {
  addRunOptions(program.command('explain').description('list and explain every quantization variable a QAT model carries (Keras QAT vs this studio)')).action(
    async (o: Parameters<typeof configFrom>[1], cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const config = await configFrom(studio, o, cmd, 'qat', false);
        const e = await callApi(studio, 'models.explain', { id: config.modelId, config });
        print(!!o.json, e, () => formatExplanation(e));
      }),
  );
}
