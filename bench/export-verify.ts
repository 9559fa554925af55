/**
 * `node dist/bench/export-verify.js [ARCH] [SAMPLES] [FORMATS] [RUNTIMES]`: the time of
 * an export's verification at 224x224, with the studio simulation on
 * TensorFlow.js (before issue 13) and on onnxruntime (now). A seeded
 * keras.applications model (default MobileNetV2; 10 classes, softmax, so
 * that top-1 decisions of the seeded model mean something),
 * a PTQ run (per-channel W8A8, 100 calibration images) on a seeded random
 * dataset of SAMPLES images (default 100), then each format (default
 * onnx,tflite) exported once per simulation runtime (default
 * onnxruntime,tfjs: a wasm crash leaves TF.js unusable in the process, so
 * tfjs goes last, or in a process of its own);
 * printed: each phase's seconds, the simulation's seconds and batch, the
 * verification figures, and the process's peak resident memory so far. A
 * failed export is printed with its phase (TF.js's wasm memory at 224x224 in
 * batches of 100); the runtime 'tfjs-16' times the QDQ simulation alone on
 * TF.js in batches of 16, for reference.
 */
import path from 'node:path';
import { initBackend } from '../src-main/engine/backend.js';
import '../src-main/engine/graph/tfjs-compat/index.js';
import { exportOnnx } from '../src-main/export/onnx/index.js';
import { exportTflite } from '../src-main/export/tflite/index.js';
import type { ExportInput, ExportOptions, ExportPhase, ExportResult } from '../src-main/export/types.js';
import { exportSimulationHooks } from '../src-main/export/simulate.js';
import { simulate, type SimulationRecord } from '../src-main/export/verify.js';
import { applications } from '../test/helpers/applications/index.js';
import { tempDir } from '../test/helpers/temp.js';
import { npyDataset, ptqInput } from '../test/src-main/export/tflite-mobile-fixtures.js';

const writers: Record<string, (input: ExportInput, dest: string, opts: ExportOptions) => Promise<ExportResult>> = { onnx: exportOnnx, tflite: exportTflite };

async function main(): Promise<void> {
  const [arch = 'MobileNetV2', count = '100', formats = 'onnx,tflite', runtimes = 'onnxruntime,tfjs'] = process.argv.slice(2);
  await initBackend('wasm');
  const app = applications.find((a) => a.name === arch);
  if (!app) throw new Error(`no architecture ${arch}; known: ${applications.map((a) => a.name).join(', ')}`);
  const dir = tempDir('studio-bench-export-verify-');
  const n = Number(count);
  const data = npyDataset(path.join(dir, 'data'), [224, 224, 3], Math.max(n, 100) * 2, -1, 1, 1, 10);
  const model = app.build({ inputSize: 224, classes: 10, seed: 0 });
  let started = performance.now();
  const input = await ptqInput(model, data, n);
  model.dispose();
  console.log(`${arch} 224x224: PTQ run ${((performance.now() - started) / 1000).toFixed(1)} s, ${input.graph.nodes.length} nodes, ${n} eval samples`);
  for (const format of formats.split(',')) {
    for (const runtime of runtimes.split(',') as ('tfjs' | 'onnxruntime' | 'tfjs-16')[]) {
      if (runtime === 'tfjs-16') {
        if (format === 'onnx') tfjsReference(input);
        continue;
      }
      const phases: Partial<Record<ExportPhase, number>> = {};
      const current: { phase: ExportPhase | null; at: number } = { phase: null, at: performance.now() };
      const close = () => {
        if (current.phase) phases[current.phase] = (performance.now() - current.at) / 1000;
      };
      const onPhase = (p: ExportPhase) => {
        close();
        current.phase = p;
        current.at = performance.now();
      };
      started = performance.now();
      let r: ExportResult;
      try {
        r = await writers[format]!(input, path.join(dir, `${arch}-${runtime}.${format}`), { simulationRuntime: runtime, onPhase });
      } catch (e) {
        console.log(`${format}, simulation on ${runtime}: failed after ${((performance.now() - started) / 1000).toFixed(1)} s in ${current.phase}: ${(e as Error).message.split('\n')[0]}`);
        continue;
      }
      close();
      const v = r.verification as { simulation: SimulationRecord; agreement: number; maxAbsDiff: number; meanAbsDiff: number; seconds: number };
      const rss = process.resourceUsage().maxRSS / 1024;
      console.log(
        `${format}, simulation on ${runtime}: export ${((performance.now() - started) / 1000).toFixed(1)} s (${Object.entries(phases)
          .map(([k, s]) => `${k} ${s.toFixed(1)} s`)
          .join(', ')}); simulation ${v.simulation.seconds.toFixed(1)} s (batch ${v.simulation.batchSize}${v.simulation.threads ? `, ${v.simulation.threads} threads` : ''}), runtime pass and comparison ${v.seconds.toFixed(1)} s; ` +
          `agreement ${v.agreement}, max |diff| ${v.maxAbsDiff.toExponential(2)}, mean ${v.meanAbsDiff.toExponential(2)}; peak RSS ${rss.toFixed(0)} MiB`,
      );
    }
  }
}

/** The QDQ simulation on TF.js in batches of 16 (the export's own batch of 100 may not fit wasm's memory at 224x224): the time it takes when it runs. */
function tfjsReference(input: ExportInput): void {
  const started = performance.now();
  try {
    simulate(input.graph, exportSimulationHooks(input.graph, input.plan, input.qparams, { rounding: 'half-even' }), input.samples!, 16);
    console.log(`for reference, the QDQ simulation on TF.js in batches of 16: ${((performance.now() - started) / 1000).toFixed(1)} s; peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
  } catch (e) {
    console.log(`the QDQ simulation on TF.js in batches of 16 failed: ${(e as Error).message.split('\n')[0]}`);
  }
}

await main();
