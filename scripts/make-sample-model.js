#!/usr/bin/env node
// Trains the built-in fashion_cnn on the full Fashion-MNIST training set
// (Debian's dataset-fashion-mnist) with the studio's own training loop on the
// wasm backend, reports its accuracy on the full test set, and writes it as a
// TensorFlow.js layers model to assets/sample/models/fashion_cnn/ with a
// README. Checks that the written model reads back to the same outputs.
// Needs a build first (npx tsc -p tsconfig.json). Takes ~15 minutes.
//
// Usage: node scripts/make-sample-model.js
// Env: SAMPLE_MODEL_LIMIT=n  train on the first n samples only (smoke test; then nothing is written
//                            unless SAMPLE_MODEL_OUT is set)
//      SAMPLE_MODEL_OUT=dir  write there instead of assets/sample/models/fashion_cnn
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(root, 'dist', p));

const tf = await import('@tensorflow/tfjs');
const { initBackend } = await dist('src-main/engine/backend.js');
const { Training } = await dist('src-main/api/run-config.js');
const { GraphRuntime } = await dist('src-main/engine/graph/runtime.js');
const { totalParameterCount } = await dist('src-main/engine/graph/types.js');
const { loadDataset, sampleSplit } = await dist('src-main/io/data/dataset.js');
const { builtinModel } = await dist('src-main/io/models/builtins.js');
const { readTfjsLayersModel, writeTfjsLayersModel } = await dist('src-main/io/models/tfjs-layers.js');
const { trainLoop } = await dist('src-main/engine/train/loop.js');
const { evaluate } = await dist('src-main/engine/train/evaluate.js');

const FASHION = '/usr/share/datasets/fashion-mnist';
const SEED = 2017;
const limit = process.env.SAMPLE_MODEL_LIMIT ? Number(process.env.SAMPLE_MODEL_LIMIT) : null;
const outDir = process.env.SAMPLE_MODEL_OUT ?? (limit ? null : path.join(root, 'assets', 'sample', 'models', 'fashion_cnn'));

const backend = await initBackend('wasm');
if (backend.name !== 'wasm') throw new Error(`wanted the wasm backend, got ${backend.name}`);
const data = loadDataset({ path: FASHION, format: 'idx', preprocessing: {} });
const train = data.parts.train;
const test = data.parts.test;
const trainCount = limit ? Math.min(limit, train.count) : train.count;
const trainIdx = sampleSplit(trainCount, trainCount, SEED);
const training = Training.parse({ optimizer: 'adam', learningRate: 1e-3, batchSize: 64, epochs: 2, validationSplit: 0 });
const entry = builtinModel('fashion_cnn');
const runtime = new GraphRuntime(entry.build());
console.log(`fashion_cnn (${totalParameterCount(runtime.graph)} parameters) on ${trainCount} training images, backend ${backend.name}, ${JSON.stringify(training)}`);

let window = { loss: 0, acc: 0, n: 0 };
let t0 = performance.now();
const ctx = {
  jobId: 0,
  progress() {},
  emit() {},
  cancelled: () => false,
  checkCancelled() {},
};
const loop = await trainLoop({
  runtime,
  data,
  trainIdx,
  valIdx: new Int32Array(0), // the test set stays unseen: no checkpoint is chosen on it, the final weights are kept
  training,
  ctx,
  seed: SEED,
  onStep({ step, epoch, loss, accuracy }) {
    window.loss += loss;
    window.acc += accuracy;
    window.n++;
    if (step % 100 === 0) {
      const rate = (window.n * training.batchSize) / ((performance.now() - t0) / 1000);
      console.log(`step ${step} epoch ${epoch.toFixed(2)} loss ${(window.loss / window.n).toFixed(4)} acc ${(window.acc / window.n).toFixed(4)} ${rate.toFixed(0)} samples/s`);
      window = { loss: 0, acc: 0, n: 0 };
      t0 = performance.now();
    }
  },
});
console.log(`trained ${loop.steps} steps in ${loop.seconds.toFixed(0)} s (${loop.samplesPerSecond.toFixed(0)} samples/s); last-epoch mean train loss ${loop.finalTrainLoss.toFixed(4)}`);

const all = Int32Array.from({ length: test.count }, (_, i) => i);
const result = await evaluate(runtime, test, all, { batchSize: 500 });
console.log(`test accuracy ${(result.accuracy * 100).toFixed(2)}% (loss ${result.loss.toFixed(4)}) on all ${result.count} test images`);
const trainEval = await evaluate(runtime, train, trainIdx, { batchSize: 500 });
console.log(`train accuracy ${(trainEval.accuracy * 100).toFixed(2)}% (loss ${trainEval.loss.toFixed(4)}) on ${trainEval.count} training images`);

if (outDir) {
  const graph = runtime.toGraph();
  const files = await writeTfjsLayersModel(graph, outDir);
  // Read it back: same graph outputs on real images.
  const back = new GraphRuntime(await readTfjsLayersModel(files[0]), { trainable: false });
  const probe = sampleSplit(512, test.count, 7);
  const x = tf.tensor(Float32Array.from(Array.from(probe).flatMap((i) => Array.from(test.images.subarray(i * 784, (i + 1) * 784)))), [probe.length, 28, 28, 1]);
  const a = runtime.apply(x);
  const b = back.apply(x);
  const maxDiff = tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];
  const backResult = await evaluate(back, test, all, { batchSize: 500 });
  tf.dispose([x, a, b]);
  back.dispose();
  console.log(`read back: max |output difference| ${maxDiff.toExponential(2)} on 512 test images; test accuracy ${(backResult.accuracy * 100).toFixed(2)}%`);
  if (!(maxDiff <= 1e-5) || backResult.accuracy !== result.accuracy) throw new Error('the written model does not read back to the same outputs');
  writeFileSync(path.join(outDir, 'README.md'), readme({ loop, result, trainEval, training, params: totalParameterCount(graph) }));
  console.log(`wrote ${[...files, path.join(outDir, 'README.md')].map((f) => path.relative(root, f)).join(', ')}`);
}
runtime.dispose();

function readme({ loop, result, trainEval, training, params }) {
  const pct = (v) => `${(v * 100).toFixed(2)}%`;
  return `# fashion_cnn — sample model

A small CNN for Fashion-MNIST, trained by the studio itself, so that PTQ and
QAT can be tried without bringing a model. TensorFlow.js layers format:
\`model.json\` + \`group1-shard1of1.bin\` (float32 weights).

## Architecture (the built-in \`fashion_cnn\`, ${params.toLocaleString('en')} parameters)

Input 28×28×1 → Conv2D(32, 3×3, same) → BatchNormalization → ReLU → MaxPool 2×2
→ Conv2D(64, 3×3, same) → BatchNormalization → ReLU → MaxPool 2×2 → Flatten
→ Dense(128, ReLU) → Dense(10, softmax). Initial weights: the built-in's seeded
Glorot-uniform initialisers.

## Training

- Data: the full Fashion-MNIST training set, 60,000 images (Debian package
  \`dataset-fashion-mnist\`, \`/usr/share/datasets/fashion-mnist\`), pixels scaled
  to [0, 1] (×1/255), no augmentation.
- ${training.epochs} epochs, Adam (learning rate ${training.learningRate}), batch size ${training.batchSize}, sparse softmax
  cross-entropy on logits; ${loop.steps} steps, shuffled each epoch with seed ${SEED}.
- No validation split and no checkpoint selection: the final weights are kept,
  so the test set below was never seen during training.
- Trained with \`scripts/make-sample-model.js\` (the studio's \`trainLoop\`) on the
  TensorFlow.js wasm backend in ${Math.round(loop.seconds)} s (${Math.round(loop.samplesPerSecond)} samples/s, one thread).

## Accuracy

| set | images | accuracy | mean cross-entropy |
|---|---|---|---|
| test (t10k) | ${result.count.toLocaleString('en')} | ${pct(result.accuracy)} | ${result.loss.toFixed(4)} |
| train | ${trainEval.count.toLocaleString('en')} | ${pct(trainEval.accuracy)} | ${trainEval.loss.toFixed(4)} |

Reading the files back with \`readTfjsLayersModel\` gives the same outputs
(checked by the script, max difference ≤ 1e-5) and the same test accuracy.

## Reproduce

\`\`\`
npx tsc -p tsconfig.json
node scripts/make-sample-model.js
\`\`\`

## License

The weights were learned from Fashion-MNIST (© 2017 Zalando SE, MIT
license, https://github.com/zalandoresearch/fashion-mnist); the model files
are distributed under this project's MIT license.
`;
}
