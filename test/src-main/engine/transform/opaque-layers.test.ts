/**
 * Opaque 'layer' nodes (classes the IR does not model) are unsupported layers
 * for the planner and lint without the caller listing them: unsupported 'stop'
 * stops the plan naming the layer and class, 'keep-float' keeps them float and
 * the quantized ops reading their outputs get tensor-without-range warnings.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { graphFromLayersModel } from '../../../../src-main/engine/graph/from-layers.js';
import type { Graph } from '../../../../src-main/engine/graph/types.js';
import { foldBatchNorm, groupOps, planQuantization, PlanError } from '../../../../src-main/engine/transform/index.js';
import { lintModel } from '../../../../src-main/engine/lint.js';
import { OPAQUE_LAYERS, opaqueModel } from '../graph/opaque-fixtures.js';
import { config } from './graphs.js';

let graph: Graph;
before(async () => {
  await tf.setBackend('cpu');
  const model = opaqueModel();
  graph = graphFromLayersModel(model);
  model.dispose();
});

test('groupOps gives each opaque layer a group of its own', () => {
  const groups = groupOps(graph);
  for (const { name } of OPAQUE_LAYERS) assert.deepEqual(groups.find((g) => g.layers[0] === name), { kind: 'layer', layers: [name] });
});

test("unsupported 'stop': the plan throws a PlanError naming the first opaque layer and its class", () => {
  assert.throws(
    () => planQuantization(graph, config({ unsupported: 'stop' })),
    (e: unknown) =>
      e instanceof PlanError && e.code === 'unsupported-layer' && e.layer === 'deconv' && /layer deconv \(Conv2DTranspose\) cannot be quantized.*keep-float/.test(e.message),
  );
  // A folded graph keeps its opaque nodes, so the plan a run makes stops the same way.
  assert.throws(() => planQuantization(foldBatchNorm(graph).graph, config({ unsupported: 'stop' })), PlanError);
});

test("unsupported 'keep-float': opaque layers stay float with their class; their outputs have no range", () => {
  const plan = planQuantization(graph, config({ unsupported: 'keep-float' }));
  assert.deepEqual(
    plan.float.map((f) => ({ name: f.layer, className: f.className, reason: f.reason })),
    OPAQUE_LAYERS.map((u) => ({ ...u, reason: 'unsupported' })),
  );
  const tensors = new Map(plan.tensors.map((t) => [t.tensor, t]));
  for (const { name } of OPAQUE_LAYERS) assert.deepEqual(tensors.get(name), { tensor: name, range: null, how: 'float' });
  assert.deepEqual(tensors.get('flatten'), { tensor: 'flatten', range: null, how: 'passed-through', from: 'layer_norm' });
  // Weighted layers are still quantized; those reading a float tensor have no input scale.
  assert.deepEqual(
    plan.weights.map((w) => [w.layer, w.input]),
    [
      ['conv2d', 'input'],
      ['conv2d_1', null],
      ['dense', null],
      ['dense_gate', 'dense/output'],
      ['logits', null],
    ],
  );
  assert.ok(!plan.activations.some((a) => a.layers.some((l) => OPAQUE_LAYERS.some((u) => u.name === l))));
  // A caller's extra list still works and is merged by name.
  const extra = planQuantization(graph, config({ unsupported: 'keep-float' }), { unsupportedLayers: [{ name: 'dense', className: 'Dense' }, { name: 'elu', className: 'ELU' }] });
  assert.deepEqual(extra.float.filter((f) => f.layer === 'dense' || f.layer === 'elu').map((f) => f.layer), ['elu', 'dense']);
});

test("lint: 'stop' reports an error per opaque layer naming layer and class and suggesting keep-float", () => {
  const findings = lintModel(graph, config({ unsupported: 'stop' }));
  const unsupported = findings.filter((f) => f.code === 'unsupported-layer');
  assert.deepEqual(
    unsupported.map((f) => [f.severity, f.layer]),
    OPAQUE_LAYERS.map((u) => ['error', u.name]),
  );
  const ln = unsupported.find((f) => f.layer === 'layer_norm')!;
  assert.match(ln.message, /layer_norm \(LayerNormalization\) cannot be quantized, and with unsupported: stop the run stops here/);
  assert.match(ln.fix, /unsupported: keep-float/);
  assert.match(unsupported.find((f) => f.layer === 'dense_elu')!.message, /dense_elu \(Dense\) cannot be quantized \(.*activation "elu"/);
});

test("lint: 'keep-float' warns per opaque layer and about the tensors quantized ops read from them", () => {
  const findings = lintModel(graph, config({ unsupported: 'keep-float' }));
  assert.ok(findings.every((f) => f.severity !== 'error'), JSON.stringify(findings.filter((f) => f.severity === 'error')));
  assert.deepEqual(
    findings.filter((f) => f.code === 'unsupported-layer').map((f) => [f.severity, f.layer]),
    OPAQUE_LAYERS.map((u) => ['warning', u.name]),
  );
  const ranges = findings.filter((f) => f.code === 'tensor-without-range');
  assert.deepEqual(
    ranges.map((f) => f.layer),
    ['elu', 'flatten', 'maximum'],
  );
  assert.match(ranges[1]!.message, /passes on the range of layer_norm \(LayerNormalization\)/);
  assert.match(ranges[1]!.message, /layer_norm cannot be quantized and is kept float \(unsupported: keep-float\)/);
  assert.match(ranges[2]!.message, /quantized logits \(Dense\) reads it/);
});
