/**
 * `studio import-model PATH` and `studio import-data PATH`: the same calls as
 * the Model view's Import panel (models.import, datasets.import), printing
 * what was stored, or which entry already holds the same content.
 */
import path from 'node:path';
import type { Command } from 'commander';
import type { DatasetSummary, ModelSummary } from '../api/contract.js';
import { callApi, print, withStudio } from './common.js';
import { UsageError } from './errors.js';

const count = (n: number) => n.toLocaleString('en-US');

export function describeModel(m: ModelSummary, isNew: boolean): string {
  return [
    `${isNew ? 'stored' : 'already in the library (same content)'}: model ${m.id} "${m.name}"`,
    `  format   ${m.format}`,
    `  path     ${m.path ?? '—'}`,
    `  input    ${m.inputShape.join('x')} · ${m.numClasses} classes · ${m.layerCount} layers · ${count(m.paramCount)} parameters`,
    `  sha256   ${m.sha256}`,
  ].join('\n');
}

export function describeDataset(d: DatasetSummary, isNew: boolean): string {
  return [
    `${isNew ? 'stored' : 'already in the library (same content)'}: dataset ${d.id} "${d.name}"`,
    `  format   ${d.format}`,
    `  path     ${d.path ?? '—'}`,
    `  samples  ${count(d.count)} · input ${d.inputShape.join('x')} · ${d.numClasses} classes`,
  ].join('\n');
}

/** "0.5,0.4,0.3" -> [0.5, 0.4, 0.3]; fractions such as 1/255 are accepted too. */
export function numberList(flag: string, text: string): number[] {
  const values = text.split(',').map((part) => parseNumber(flag, part));
  if (values.length === 0) throw new UsageError(`${flag} needs at least one number`);
  return values;
}

export function parseNumber(flag: string, text: string): number {
  const t = text.trim();
  const fraction = /^(-?[\d.]+(?:e-?\d+)?)\/([\d.]+(?:e-?\d+)?)$/i.exec(t);
  const value = fraction ? Number(fraction[1]) / Number(fraction[2]) : t === '' ? Number.NaN : Number(t);
  if (!Number.isFinite(value)) throw new UsageError(`${flag} expects numbers, got "${text}"`);
  return value;
}

/** "224x224" -> [224, 224] (height x width). */
export function parseSize(text: string): [number, number] {
  const m = /^(\d+)\s*[xX×]\s*(\d+)$/.exec(text.trim());
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new UsageError(`--size expects HEIGHTxWIDTH such as 224x224, got "${text}"`);
  return [Number(m[1]), Number(m[2])];
}

interface DataOptions {
  name?: string;
  scale?: string;
  mean?: string;
  std?: string;
  bgr?: boolean;
  size?: string;
  json?: boolean;
}

export function preprocessingFrom(o: DataOptions): Record<string, unknown> {
  const p: Record<string, unknown> = {};
  if (o.scale !== undefined) p.scale = parseNumber('--scale', o.scale);
  if (o.mean !== undefined) p.mean = numberList('--mean', o.mean);
  if (o.std !== undefined) p.std = numberList('--std', o.std);
  if (o.bgr) p.channelOrder = 'bgr';
  if (o.size !== undefined) p.size = parseSize(o.size);
  return p;
}

export function registerImportCommands(program: Command): void {
  program
    .command('import-model')
    .description('add a model file to the library (tfjs model.json or its folder, Keras .h5/.keras): copied into the user data folder, or referenced with --reference')
    .argument('<path>', 'the model file')
    .option('--reference', 'keep the file where it is and point the library at it (default: copy it)')
    .option('--name <name>', 'name in the library (default: from the file)')
    .option('--json', 'print JSON')
    .action(async (file: string, o: { reference?: boolean; name?: string; json?: boolean }, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const before = new Set((await callApi(studio, 'models.list', {})).map((m) => m.id));
        const model = await callApi(studio, 'models.import', { path: path.resolve(file), mode: o.reference ? 'reference' : 'copy', ...(o.name ? { name: o.name } : {}) });
        print(!!o.json, model, () => describeModel(model, !before.has(model.id)));
      }),
    );

  program
    .command('import-data')
    .description('add a dataset to the library (IDX folder or file, CIFAR-10 batches, image folders, NPY/NPZ); the files stay where they are')
    .argument('<path>', 'the dataset file or folder')
    .option('--name <name>', 'name in the library (default: from the path)')
    .option('--scale <s>', 'multiply raw values by this (e.g. 1/255)')
    .option('--mean <a,b,c>', 'subtract after scaling: one value, or one per channel')
    .option('--std <a,b,c>', 'divide after the mean: one value, or one per channel')
    .option('--bgr', 'feed channels in BGR order (3-channel data)')
    .option('--size <HxW>', 'resize images to HEIGHTxWIDTH (image folders)')
    .option('--json', 'print JSON')
    .action(async (dir: string, o: DataOptions, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const preprocessing = preprocessingFrom(o);
        const before = new Set((await callApi(studio, 'datasets.list', {})).map((d) => d.id));
        const dataset = await callApi(studio, 'datasets.import', {
          path: path.resolve(dir),
          ...(o.name ? { name: o.name } : {}),
          ...(Object.keys(preprocessing).length > 0 ? { preprocessing } : {}),
        });
        print(!!o.json, dataset, () => describeDataset(dataset, !before.has(dataset.id)));
      }),
    );
}
