/**
 * prepare (deserialize → check weights → fold BatchNorm → plan), which every
 * run kind, explain and export call, and inspect, its twin for lint that
 * reports instead of throwing: on a good model both give the same folded
 * graph and plan; on a bad one inspect reports what prepare throws, and lint
 * turns it into a finding.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { graphFromLayersModel } from '../../../src-main/engine/graph/from-layers.js';
import { serializeGraph } from '../../../src-main/engine/graph/serialize.js';
import type { Graph, WeightedNode } from '../../../src-main/engine/graph/types.js';
import { inspect, prepare } from '../../../src-main/engine/prepare.js';
import { PlanError } from '../../../src-main/engine/transform/index.js';
import { lintModel } from '../../../src-main/engine/lint.js';
import { opaqueModel } from './graph/opaque-fixtures.js';
import { batchNorm, config, conv, dense, flatten, graphOf, input } from './transform/graphs.js';

before(async () => {
  await tf.setBackend('cpu');
});

/** conv → BN (folds into it) → flatten → dense(softmax). */
function convBnDense(): Graph {
  const x = input('input', [6, 6, 2]);
  const c = conv('conv', x, 4);
  const bn = batchNorm('bn', c);
  const f = flatten('flatten', bn);
  const d = dense('dense', f, 3, { activation: 'softmax' });
  return graphOf('small', x, c, bn, f, d);
}

test('prepare deserializes, folds and plans; inspect takes the same steps and has nothing to report', () => {
  const bytes = serializeGraph(convBnDense());
  const p = prepare(bytes, config(), { modelName: 'small' });
  assert.deepEqual(
    p.folded.map((f) => [f.layer, f.batchNorm]),
    [['conv', 'bn']],
  );
  assert.deepEqual(
    p.graph.nodes.map((n) => n.name),
    ['input', 'conv', 'flatten', 'dense'],
  );
  assert.deepEqual(
    p.source.nodes.map((n) => n.name),
    ['input', 'conv', 'bn', 'flatten', 'dense'],
  );
  assert.deepEqual(
    p.plan.weights.map((w) => w.layer),
    ['conv', 'dense'],
  );
  const i = inspect(bytes, config(), { modelName: 'small' });
  assert.deepEqual(i.nonFinite, []);
  assert.equal(i.planError, null);
  assert.deepEqual(i.plan, p.plan);
  assert.deepEqual(i.graph, p.graph);
  assert.deepEqual(i.folded, p.folded);
});

test('a NaN weight: prepare throws naming it, inspect reports it beside the plan, lint makes it an error finding', () => {
  const graph = convBnDense();
  (graph.nodes.find((n) => n.name === 'dense') as WeightedNode).weights.kernel.values[5] = NaN;
  assert.throws(() => prepare(graph, config(), { modelName: 'broken' }), { message: 'model broken: weight dense/kernel holds NaN at index 5; fix or retrain the model' });
  const i = inspect(graph, config());
  assert.deepEqual(i.nonFinite, [{ layer: 'dense', weight: 'kernel', index: 5, value: NaN }]);
  assert.ok(i.plan, 'the plan is made all the same');
  const findings = lintModel(graph, config()).filter((f) => f.code === 'weight-not-finite');
  assert.equal(findings.length, 1);
  assert.equal(findings[0]!.severity, 'error');
  assert.equal(findings[0]!.layer, 'dense');
  assert.match(findings[0]!.message, /^Weight dense\/kernel holds NaN at index 5: /);
  assert.deepEqual(
    lintModel(convBnDense(), config()).filter((f) => f.code === 'weight-not-finite'),
    [],
  );
});

test("the planner's refusal: prepare throws its PlanError, inspect returns it with the folded graph", () => {
  const model = opaqueModel();
  const graph = graphFromLayersModel(model);
  model.dispose();
  const stop = config({ unsupported: 'stop' });
  let thrown: unknown = null;
  try {
    prepare(graph, stop);
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown instanceof PlanError && thrown.layer === 'deconv', String(thrown));
  const i = inspect(graph, stop);
  assert.equal(i.plan, null);
  assert.ok(i.planError instanceof PlanError);
  assert.equal(i.planError.message, thrown.message);
  assert.ok(i.graph.nodes.some((n) => n.name === 'deconv'));
});
