/**
 * `node dist/bench/scale-model.js write ARCH ALPHA DIR`: a keras.applications
 * architecture (test/helpers/applications) at 224x224x3 with 1,000 classes
 * and a linear classifier (so the output SQNR is the logits'), seeded
 * weights, written as a TensorFlow.js layers model (DIR/model.json + one
 * weights file) for the scale bench to import as a user's file.
 */
import { initBackend } from '../src-main/engine/backend.js';
import '../src-main/engine/graph/tfjs-compat/index.js';
import { writeLayersModelFiles } from '../src-main/io/models/tfjs-layers.js';
import { applications } from '../test/helpers/applications/index.js';

async function main(): Promise<void> {
  const [verb, name, alpha, dir] = process.argv.slice(2);
  if (verb !== 'write' || !name || !dir) throw new Error('usage: scale-model.js write ARCH ALPHA DIR');
  await initBackend('auto');
  const app = applications.find((a) => a.name === name);
  if (!app) throw new Error(`no architecture ${name}; known: ${applications.map((a) => a.name).join(', ')}`);
  const model = app.build({ ...(app.alpha ? { alpha: Number(alpha) } : {}), inputSize: 224, classes: 1000, classifierActivation: 'linear', seed: 0 });
  await writeLayersModelFiles(model, dir);
  model.dispose();
}

await main();
