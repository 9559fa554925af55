/**
 * keras.applications end to end (issue "Real mobile models", item 4):
 * MobileNet, MobileNetV2, MobileNetV3Small, EfficientNetB0, ResNet50 and
 * DenseNet121 at small widths and 32-40 px inputs with 10 classes, each plain
 * and nested as Keras transfer learning and Teachable Machine nest it, each
 * written as a TF.js model.json (tfjs's own save), a Keras 2 .h5 and a Keras 3
 * .keras (keras-nested-fixtures.ts, in Keras's layouts and layer configs;
 * MobileNetV3's hard sigmoid as the Keras operations Keras's own MobileNetV3
 * makes of it). For every one:
 *  - the studio's registry reads all three files (as the library's import
 *    does: readModelFile, then the stored bytes), nothing opaque, the same
 *    graph from each (MobileNetV3: where the operations are not), computing
 *    what the tfjs model computes;
 *  - lint finds no error; PTQ per-tensor and per-channel quantize every layer
 *    (DenseNet121's BatchNormalizations after a Concatenate, which have nothing
 *    to fold into, as multiply-adds with their own ranges: TFLite's MUL + ADD),
 *    on a dataset of images of the model's input size labelled by the float
 *    model (applications-fixtures.ts says why);
 *  - the per-channel run exports to ONNX and TF.js (runExport, as the export
 *    job runs it), each verified in its runtime with ≥ 99% top-1 agreement
 *    with the studio's simulation and close outputs; the plain models to
 *    TFLite too;
 *  - MobileNetV3Small's .keras graph, with those operations read as
 *    Rescaling → ReLU6 → Rescaling, quantizes and exports to ONNX as well.
 * Models and data are seeded: every number here is deterministic.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { RunConfig, type Granularity, type Training } from '../../../src-main/api/run-config.js';
import { initBackend } from '../../../src-main/engine/backend.js';
import { GraphRuntime } from '../../../src-main/engine/graph/runtime.js';
import { deserializeGraph, serializeGraph } from '../../../src-main/engine/graph/serialize.js';
import { prepare } from '../../../src-main/engine/prepare.js';
import type { Graph } from '../../../src-main/engine/graph/types.js';
import { runPtq } from '../../../src-main/engine/ptq/run.js';
import { runQat } from '../../../src-main/engine/qat/run.js';
import type { RunResults } from '../../../src-main/engine/results.js';
import { lintModel } from '../../../src-main/engine/lint.js';
import { runExport, type ExportFormat, type ExportPayload } from '../../../src-main/export/index.js';
import { readModelFile } from '../../../src-main/io/models/registry.js';
import { writeLayersModelFiles } from '../../../src-main/io/models/tfjs-layers.js';
import { tempDir } from '../../helpers/temp.js';
import { writeKeras2H5, writeKeras3 } from '../io/models/keras-nested-fixtures.js';
import { keras2HardSigmoidOps, keras3HardSigmoidOps } from '../io/models/keras-ops-fixtures.js';
import { context } from '../engine/ptq/ptq-fixtures.js';
import { ARCHITECTURES, buildModel, CLASSES, modelInput, NESTINGS, preprocessingOf, prototypeImages, writeNpyDataset, type Architecture, type Nesting } from './applications-fixtures.js';

/** Images per dataset: calibration and evaluation both take all of them. */
const COUNT = 100;

const FORMATS = [
  { format: 'tfjs-layers', write: async (model: tf.LayersModel, base: string) => (await writeLayersModelFiles(model, base))[0]! },
  {
    format: 'keras-h5',
    write: async (model: tf.LayersModel, base: string, arch: Architecture) => (await writeKeras2H5(`${base}.h5`, model, 'own', arch.kerasOps ? { transform: (c) => keras2HardSigmoidOps(c) } : {}), `${base}.h5`),
  },
  {
    format: 'keras',
    write: async (model: tf.LayersModel, base: string, arch: Architecture) => (await writeKeras3(`${base}.keras`, model, true, arch.kerasOps ? { transform: keras3HardSigmoidOps } : {}), `${base}.keras`),
  },
] as const;

/**
 * DenseNet121's pre-activation BatchNormalizations (each conv block's `_0_bn`,
 * the transitions' `poolN_bn`, the final `bn`) read the dense blocks' running
 * Concatenate: there is no Dense or convolution right before them to fold
 * into. As TFLite's converter makes each a MUL and an ADD, the BN fold makes
 * each an affine node with its own range (fold-batchnorm.ts).
 */
function denseNetUnfoldableBatchNorms(graph: Graph): string[] {
  return graph.nodes.filter((n) => n.op === 'batchNorm' && /(_0_bn|pool\d_bn|(^|\/)bn)$/.test(n.name)).map((n) => n.name);
}

let root: string;
before(async () => {
  await initBackend('wasm');
  root = tempDir('studio-applications-');
});

interface Case {
  arch: Architecture;
  nesting: Nesting;
  /** The model the files were written from: the reference. */
  model: tf.LayersModel;
  x: tf.Tensor;
  /** Its outputs on x (softmax probabilities). */
  want: tf.Tensor;
  labels: Int32Array;
  dataset: ExportPayload['dataset'];
  graph?: Graph;
  bytes?: Uint8Array;
  /** The .keras file's graph, when it differs from model.json's (kerasOps). */
  kerasBytes?: Uint8Array;
  runs: Partial<Record<Granularity, RunResults>>;
}

function run(graph: Graph, x: tf.Tensor): tf.Tensor {
  const rt = new GraphRuntime(graph, { trainable: false });
  try {
    return tf.tidy(() => rt.apply(x));
  } finally {
    rt.dispose();
  }
}

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);

/** The graph with its input node renamed 'input' (Keras 3 gives a Sequential an InputLayer of its own name), for comparing graphs read from different files. */
function sameInputName(graph: Graph): Graph {
  const input = graph.nodes[0]!.name;
  const rename = (n: string) => (n === input ? 'input' : n);
  return { ...graph, nodes: graph.nodes.map((n) => ({ ...n, name: rename(n.name), inputs: n.inputs.map(rename) })) };
}

function config(granularity: Granularity, training?: Partial<Training>): RunConfig {
  return RunConfig.parse({
    modelId: 1,
    datasetId: 1,
    calibration: { count: COUNT, seed: 0 },
    eval: { count: COUNT, seed: 1 },
    weights: { bits: 8, symmetric: true, narrowRange: true, granularity },
    ...(training ? { training } : {}),
  });
}

/**
 * QAT runs: 80 of the 100 images train (20 validate) in batches of 16, one
 * epoch: 5 steps, BatchNorm not frozen yet (one step graph to build).
 */
const QAT_TRAINING: Partial<Training> = { epochs: 1, batchSize: 16, validationSplit: 0.2, learningRate: 1e-4 };

for (const arch of ARCHITECTURES) {
  describe(`${arch.name} (${arch.size}x${arch.size}, ${CLASSES} classes)`, () => {
    const shape = [COUNT, arch.size, arch.size, 3];
    const images = prototypeImages(COUNT, arch.size, 7);
    let x: tf.Tensor;
    before(() => {
      x = modelInput(images.pixels, shape, arch.input);
    });
    after(() => x.dispose());

    for (const nesting of NESTINGS) {
      describe(nesting, () => {
        const c = { arch, nesting, runs: {} } as Case;
        before(() => {
          c.model = buildModel(arch, nesting, x, images.prototype);
          c.x = x;
          c.want = c.model.predict(x) as tf.Tensor;
          c.labels = Int32Array.from(tf.tidy(() => c.want.argMax(-1).dataSync()));
          const dir = writeNpyDataset(path.join(root, `${arch.name}-${nesting}-data`), images.pixels, shape, c.labels);
          c.dataset = { path: dir, format: 'npy', preprocessing: preprocessingOf(arch.input) };
        });
        after(() => {
          tf.dispose([c.want]);
          c.model.dispose();
        });

        test('its float model spreads the images over the classes, confidently', () => {
          const used = new Set(c.labels).size;
          assert.ok(used >= 5, `${used} classes used by the float model's top-1`);
          const top = tf.tidy(() => c.want.max(-1).mean().dataSync()[0]!);
          assert.ok(top > 0.5 && top < 1, `mean top-1 probability ${top}`);
        });

        test('model.json, .h5 and .keras import through the registry: the same graph, nothing opaque, the outputs of the tfjs model', async () => {
          const graphs: Graph[] = [];
          for (const { format, write } of FORMATS) {
            const file = await write(c.model, path.join(root, `${arch.name}-${nesting}-${format}`), arch);
            const read = await readModelFile(file);
            assert.equal(read.format, format);
            // What the library stores: the serialized graph.
            const graph = deserializeGraph(serializeGraph(read.graph), read.name);
            const opaque = graph.nodes.filter((n) => n.op === 'layer').map((n) => `${n.name} (${n.op === 'layer' ? n.className : ''})`);
            assert.deepEqual(opaque, [], `${format}: layers the IR does not model`);
            const got = run(graph, c.x);
            const diff = maxAbsDiff(got, c.want);
            got.dispose();
            assert.ok(diff <= 1e-4, `${format}: differs from the tfjs model by ${diff}`);
            graphs.push(graph);
          }
          const [tfjsGraph, ...others] = graphs.map(sameInputName);
          if (arch.kerasOps) {
            // Keras's operations: x + 3 and · 1/6 are Rescaling (affine) nodes around a ReLU6 where model.json has one hard_sigmoid.
            for (const g of others) {
              const affine = g.nodes.filter((n) => n.op === 'affine').length - tfjsGraph!.nodes.filter((n) => n.op === 'affine').length;
              const gates = tfjsGraph!.nodes.filter((n) => n.op === 'activation' && n.activation === 'hard_sigmoid').length;
              assert.ok(gates > 0 && affine === 2 * gates, `${affine} Rescaling nodes for ${gates} hard sigmoids`);
            }
            c.kerasBytes = serializeGraph(graphs[2]!);
          } else {
            for (const [i, g] of others.entries()) {
              assert.deepEqual(serializeGraph(g), serializeGraph(tfjsGraph!), `${FORMATS[i + 1]!.format} reads the same graph (names, ops, options, weights) as model.json`);
            }
          }
          c.graph = graphs[0]!;
          c.bytes = serializeGraph(c.graph);
          if (arch.name === 'EfficientNetB0') {
            const drops = c.graph.nodes.filter((n) => n.op === 'dropout' && n.noiseShape);
            assert.ok(drops.length > 0 && drops.every((n) => n.op === 'dropout' && JSON.stringify(n.noiseShape) === '[null,1,1,1]'), 'drop-connect is a dropout node with its noise shape');
          }
        });

        for (const granularity of ['per-tensor', 'per-channel'] as const) {
          test(`lint finds no error; PTQ ${granularity} quantizes every layer and keeps most decisions`, async (t) => {
            if (!c.bytes) return t.skip('the import failed');
            const cfg = config(granularity);
            const findings = lintModel(deserializeGraph(c.bytes), cfg);
            assert.deepEqual(findings.filter((f) => f.severity === 'error').map((f) => `${f.code} ${f.layer}: ${f.message}`), []);
            // The plain model's per-channel run evaluates on onnxruntime (the native
            // evaluation graph of each architecture); the others on TF.js, because creating that graph's
            // session takes ~6 s on EfficientNetB0 and DenseNet121, longer than the rest of their run.
            const evaluationRuntime = nesting === 'plain' && granularity === 'per-channel' ? 'onnxruntime' : 'tfjs';
            const r = await runPtq({ config: cfg, modelName: `${arch.name}-${nesting}`, model: c.bytes, dataset: c.dataset, evaluationRuntime }, context());
            assert.equal((r.summary as { evaluation: { runtime: string } }).evaluation.runtime, evaluationRuntime);
            assert.deepEqual((r.summary as { float: unknown[] }).float, [], 'layers left float');
            if (arch.name === 'DenseNet121') {
              // Its unfoldable BatchNormalizations, each quantized on its own range.
              const unfoldable = denseNetUnfoldableBatchNorms(c.graph!);
              assert.ok(unfoldable.length > 0);
              const ranged = new Set(r.tensors.filter((rec) => rec.role === 'activation').map((rec) => rec.layer));
              assert.deepEqual(unfoldable.filter((bn) => !ranged.has(bn)), [], 'unfoldable BNs without a range of their own');
            }
            assert.ok(r.floatAccuracy! >= 0.99, `float accuracy ${r.floatAccuracy} on labels that are its own top-1`);
            assert.ok(r.quantAccuracy! >= 0.8, `quantized accuracy ${r.quantAccuracy}`);
            for (const rec of r.tensors) assert.ok(Number.isFinite(rec.scale) && rec.scale > 0, `${rec.layer}/${rec.role} scale ${rec.scale}`);
            c.runs[granularity] = r;
          });
        }

        if (nesting === 'plain') {
          test('a QAT run of a few steps trains on onnxruntime: finite results, every quantizer of the plan with finite qparams', async (t) => {
            if (!c.bytes) return t.skip('the import failed');
            const cfg = config('per-channel', QAT_TRAINING);
            // As the job registry runs a user's QAT run (jobs/registry.ts: runQat); evaluated on TF.js, as the PTQ runs above but one.
            const r = await runQat({ config: cfg, modelName: `${arch.name}-qat`, model: c.bytes, dataset: c.dataset, evaluationRuntime: 'tfjs' }, context());
            const summary = r.summary as { train: { runtime: string; nativeSkipped?: string; steps: number }; float: unknown[] };
            assert.equal(summary.train.runtime, 'onnxruntime', `trained on ${summary.train.runtime} (${summary.train.nativeSkipped ?? ''})`);
            assert.equal(summary.train.steps, 5);
            assert.deepEqual(summary.float, [], 'layers left float');
            for (const v of [r.floatAccuracy, r.floatLoss, r.quantAccuracy, r.quantLoss]) assert.ok(Number.isFinite(v), `results ${r.floatAccuracy} ${r.floatLoss} ${r.quantAccuracy} ${r.quantLoss}`);
            // Five small steps from the float model keep most of its decisions.
            assert.ok(r.quantAccuracy! >= 0.7, `QAT accuracy ${r.quantAccuracy}`);
            // Every quantizer of the trained model's plan has a record with finite qparams, as the store keeps them.
            const trained = deserializeGraph(r.trainedModel);
            const plan = prepare(trained, cfg).plan;
            const recorded = new Set(r.tensors.map((rec) => `${rec.layer}/${rec.role}`));
            for (const w of plan.weights) assert.ok(recorded.has(`${w.layer}/weight`), `${w.name} has no record`);
            for (const a of plan.activations) {
              const key = a.role === 'input' ? `${a.at}/input` : `${a.layers[0]}/activation`;
              assert.ok(recorded.has(key), `${a.name} has no record`);
            }
            assert.equal(r.tensors.length, plan.weights.length + plan.activations.length);
            for (const rec of r.tensors) {
              assert.ok(Number.isFinite(rec.scale) && rec.scale > 0 && Number.isFinite(rec.zeroPoint), `${rec.layer}/${rec.role}: scale ${rec.scale}, zero point ${rec.zeroPoint}`);
              for (const v of rec.perChannel?.scale ?? []) assert.ok(Number.isFinite(v) && v > 0, `${rec.layer}/${rec.role}: a channel scale ${v}`);
            }
            for (const n of trained.nodes) {
              if (!('weights' in n)) continue;
              for (const [k, w] of Object.entries(n.weights)) assert.ok(!w || w.values.every(Number.isFinite), `${n.name}/${k} not finite after training`);
            }
          });
        }

        const exports: [ExportFormat, number][] = [
          // The mean |runtime − simulation| allowed on the softmax outputs (over samples and classes).
          ['onnx', 0.01],
          ['tfjs', 0.005],
          // TFLite on the plain models only: nesting is gone once imported (the graph is the same ops
          // under path names, which nested-export.test.ts exports), and its verification (interpreter
          // plus integer reference) takes 1-7 s a model here.
          ...(nesting === 'plain' ? ([['tflite', 0.01]] as [ExportFormat, number][]) : []),
        ];
        for (const [format, meanTolerance] of exports) {
          test(`the per-channel run exports to ${format}; its runtime agrees with the simulation`, async (t) => {
            const r = c.runs['per-channel'];
            if (!r || !c.bytes) return t.skip('the per-channel run failed');
            await exportsAndAgrees(c, c.bytes, r, format, meanTolerance, `${arch.name}-${nesting}`);
          });
        }

        if (arch.kerasOps && nesting === 'plain') {
          test("the .keras graph, Keras's operations as Rescaling → ReLU6 → Rescaling, quantizes per-channel and exports to ONNX", async (t) => {
            if (!c.kerasBytes) return t.skip('the import failed');
            const cfg = config('per-channel');
            assert.deepEqual(lintModel(deserializeGraph(c.kerasBytes), cfg).filter((f) => f.severity === 'error'), []);
            const r = await runPtq({ config: cfg, modelName: `${arch.name}-keras-ops`, model: c.kerasBytes, dataset: c.dataset, evaluationRuntime: 'tfjs' }, context());
            assert.deepEqual((r.summary as { float: unknown[] }).float, [], 'layers left float');
            assert.ok(r.quantAccuracy! >= 0.8, `quantized accuracy ${r.quantAccuracy}`);
            const affine = deserializeGraph(c.kerasBytes).nodes.filter((n) => n.op === 'affine' && n.kerasClass === 'Rescaling' && n.name.startsWith('add')).map((n) => n.name);
            assert.ok(affine.length > 0 && affine.every((a) => r.tensors.some((rec) => rec.layer === a && rec.role === 'activation')), 'the mid-model Rescaling nodes (x + 3) have their own ranges');
            await exportsAndAgrees(c, c.kerasBytes, r, 'onnx', 0.01, `${arch.name}-keras-ops`);
          });
        }
      });
    }
  });
}

/**
 * Exports the run of `bytes` (runExport, as the export job does) and checks its
 * verification: ≥ 99% top-1 agreement with the simulation, accuracies within
 * one sample, outputs close on average.
 */
async function exportsAndAgrees(c: Case, bytes: Uint8Array, r: RunResults, format: ExportFormat, meanTolerance: number, name: string): Promise<void> {
  const dest = path.join(root, `${name}-${format}${format === 'tfjs' ? '' : `.${format}`}`);
  const payload: ExportPayload = { runId: 1, modelName: name, model: bytes, config: config('per-channel'), dataset: c.dataset, records: r.tensors, format, path: dest, options: {} };
  const out = await runExport(payload);
  const v = out.verification as { agreement: number; runtimeAccuracy: number; simulationAccuracy: number; maxAbsDiff: number; meanAbsDiff: number; count: number };
  assert.equal(v.count, COUNT);
  assert.ok(v.agreement >= 0.99, `${format}: top-1 agreement with the simulation ${v.agreement}`);
  assert.ok(Math.abs(v.runtimeAccuracy - v.simulationAccuracy) <= 0.01 + 1e-12, `${format}: accuracy ${v.runtimeAccuracy} vs ${v.simulationAccuracy}`);
  assert.ok(v.meanAbsDiff <= meanTolerance, `${format}: outputs differ from the simulation by ${v.meanAbsDiff} on average (max ${v.maxAbsDiff})`);
}
