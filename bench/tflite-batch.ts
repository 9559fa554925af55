/**
 * `node dist/bench/tflite-batch.js [SAMPLES] [MOBILENET_SAMPLES]`: the TFLite
 * interpreter's pass of an export's verification, one sample per Invoke
 * (before issue 16) against the verification's batches (tflite/batch.ts),
 * on the bundled sample CNN (W8A8 and 16x8, bundled Fashion-MNIST, default
 * 1,000 eval samples) and a seeded MobileNetV2 at 224x224 (W8A8, seeded
 * random data, default 32 samples). Prints each pass's wall and CPU seconds
 * and checks the outputs are the same.
 */
import path from 'node:path';
import { initBackend } from '../src-main/engine/backend.js';
import '../src-main/engine/graph/tfjs-compat/index.js';
import { serializeGraph } from '../src-main/engine/graph/serialize.js';
import { exportTflite } from '../src-main/export/tflite/index.js';
import { runTfliteBatched } from '../src-main/export/tflite/verify.js';
import type { ExportInput } from '../src-main/export/types.js';
import { readTfjsLayersModel } from '../src-main/io/models/tfjs-layers.js';
import { mobileNetV2 } from '../test/helpers/applications/index.js';
import { tempDir } from '../test/helpers/temp.js';
import { ROOT } from '../test/src-main/engine/ptq/ptq-fixtures.js';
import { ptqOnSample } from '../test/src-main/export/tflite-16x8-fixtures.js';
import { npyDataset, ptqInput } from '../test/src-main/export/tflite-mobile-fixtures.js';

const A8 = { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-tensor' } as const;

async function compare(name: string, input: ExportInput, dir: string): Promise<void> {
  const file = path.join(dir, `${name}.tflite`);
  await exportTflite(input, file, { verify: false });
  const samples = input.samples!;
  // CPU seconds of this process (the interpreter is single-threaded wasm on this thread), and wall seconds.
  const timed = async (batch?: number) => {
    const started = performance.now();
    const cpu = process.cpuUsage();
    const r = await runTfliteBatched(file, samples, batch === undefined ? {} : { batch });
    const used = process.cpuUsage(cpu);
    return { ...r, seconds: (performance.now() - started) / 1000, cpu: (used.user + used.system) / 1e6 };
  };
  const one = await timed(1);
  const many = await timed();
  const same = one.outputs.length === many.outputs.length && one.outputs.every((v, i) => Object.is(v, many.outputs[i]));
  const t = (r: typeof one) => `${r.seconds.toFixed(2)} s (${r.cpu.toFixed(2)} s CPU)`;
  console.log(`${name}, ${samples.labels.length} samples: batch 1 ${t(one)}, batch ${many.batch} ${t(many)}: ${(one.cpu / many.cpu).toFixed(2)}x in CPU time; outputs ${same ? 'identical' : 'DIFFER'}`);
}

async function main(): Promise<void> {
  const [count = '1000', mobileCount = '32'] = process.argv.slice(2);
  await initBackend('wasm');
  const dir = tempDir('studio-bench-tflite-batch-');
  const cnn = serializeGraph(await readTfjsLayersModel(path.join(ROOT, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json')));
  await compare('sample CNN W8A8', await ptqOnSample('fashion_cnn_sample', cnn, { activations: A8 }, Number(count)), dir);
  await compare('sample CNN 16x8', await ptqOnSample('fashion_cnn_sample', cnn, {}, Number(count)), dir);
  const n = Number(mobileCount);
  const data = npyDataset(path.join(dir, 'data'), [224, 224, 3], Math.max(n, 100) * 2, -1, 1, 1, 10);
  const model = mobileNetV2({ inputSize: 224, classes: 10, seed: 0 });
  const input = await ptqInput(model, data, n);
  model.dispose();
  await compare('MobileNetV2 224 W8A8', input, dir);
}

await main();
