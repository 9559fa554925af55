// The Model view's explanation panel: config from the small controls, shapes
// in words, variables grouped by layer, totals and the "added" sentence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LayerQuantization, QuantVariable, VariableExplanation } from '../../../../src-main/api/contract.js';
import { RunConfig } from '../../../../src-main/api/run-config.js';
import {
  DEFAULT_EXPLAIN_CONTROLS,
  describeAdded,
  explainConfig,
  explainLayer,
  explainTotals,
  formatVariableShape,
  groupVariables,
  variableSize,
} from '../../../../src-renderer/lib/data/explain.js';

const v = (layer: string, name: string, shape: number[] = []): QuantVariable => ({ layer, name, shape, trainable: false, role: `${name} of ${layer}` });

/** tfmot's variables for Dense 784-256-128-10: 3 for the input quantizer, 5 per Dense. */
function kerasDense(): QuantVariable[] {
  const out = [v('quantize_layer', 'quantize_layer_min'), v('quantize_layer', 'quantize_layer_max'), v('quantize_layer', 'optimizer_step')];
  for (const d of ['quant_dense', 'quant_dense_1', 'quant_dense_2']) {
    out.push(v(d, 'kernel_min'), v(d, 'kernel_max'), v(d, 'post_activation_min'), v(d, 'post_activation_max'), v(d, 'optimizer_step'));
  }
  return out;
}

test('the controls become a config the API schema accepts, bits clamped to 2..16', () => {
  const c = explainConfig({ ...DEFAULT_EXPLAIN_CONTROLS, weightGranularity: 'per-tensor', weightBits: 4, activationBits: 40 });
  assert.deepEqual(c.weights, { bits: 4, symmetric: true, narrowRange: true, granularity: 'per-tensor' });
  assert.equal(c.activations!.bits, 16);
  assert.equal(explainConfig({ ...DEFAULT_EXPLAIN_CONTROLS, weightBits: Number.NaN }).weights!.bits, 8);
  // What models.explain does with it: RunConfig.partial() on the wire, then the full parse.
  assert.doesNotThrow(() => RunConfig.partial().parse(c));
  const full = RunConfig.parse({ modelId: 1, datasetId: 1, ...explainConfig(DEFAULT_EXPLAIN_CONTROLS) });
  assert.equal(full.weights.granularity, 'per-channel');
  assert.equal(full.activations.granularity, 'per-tensor');
});

test('shapes read as scalar or a channel vector', () => {
  assert.equal(formatVariableShape([]), 'scalar');
  assert.equal(formatVariableShape([32]), '[32]');
  assert.equal(formatVariableShape([3, 4]), '[3×4]');
  assert.equal(variableSize([]), 1);
  assert.equal(variableSize([32]), 32);
});

test('variables group by layer in order of first appearance, counting values and per-channel', () => {
  const groups = groupVariables([v('input', 'input/min'), v('conv', 'conv/kernel_min', [8]), v('input', 'input/max'), v('conv', 'conv/kernel_max', [8])]);
  assert.deepEqual(groups.map((g) => g.layer), ['input', 'conv']);
  assert.deepEqual(groups[0]!.variables.map((x) => x.name), ['input/min', 'input/max']);
  assert.equal(groups[0]!.values, 2);
  assert.equal(groups[0]!.perChannel, false);
  assert.equal(groups[1]!.values, 16);
  assert.equal(groups[1]!.perChannel, true);
  assert.deepEqual(groupVariables([]), []);
});

test('totals of the Dense 784-256-128-10 model: 235,146 float, 235,164 under Keras QAT', () => {
  const keras = kerasDense();
  const e: VariableExplanation = {
    float: { trainable: 235_146, nonTrainable: 0, total: 235_146 },
    keras: { variables: keras, totals: { trainable: 235_146, nonTrainable: 18, total: 235_164 } },
    studio: { variables: [v('input', 'input/min'), v('input', 'input/max'), v('(model)', 'step')], totals: { trainable: 235_146, nonTrainable: 3, total: 235_149 }, folded: [], layers: [] },
  };
  const rows = explainTotals(e);
  assert.deepEqual(rows.map((r) => [r.key, r.total, r.added, r.variables]), [
    ['float', 235_146, 0, 0],
    ['keras', 235_164, 18, 18],
    ['studio', 235_149, 3, 3],
  ]);
  assert.equal(describeAdded(keras), '3 for quantize_layer; 5 each for quant_dense, quant_dense_1, quant_dense_2');
  assert.equal(describeAdded([v('a', 'x', [8]), v('b', 'y')]), '8 for a; 1 for b');
  assert.equal(describeAdded([]), '');
});

test("one layer explained: its quantization line, its own variables, the range it carries from another layer, tfmot's wrapper", () => {
  const lq = (layer: string, kind: LayerQuantization['kind'], range: string | null): LayerQuantization => ({ layer, kind, range, kernel: null, note: `${layer} is ${kind}` });
  const e: VariableExplanation = {
    float: { trainable: 10, nonTrainable: 0, total: 10 },
    keras: { variables: [v('quantize_layer', 'quantize_layer_min'), v('quant_conv', 'kernel_min', [4]), v('quant_conv', 'post_activation_min')], totals: { trainable: 10, nonTrainable: 6, total: 16 } },
    studio: {
      variables: [v('input', 'input/min'), v('input', 'input/max'), v('conv', 'conv/output/min'), v('conv', 'conv/output/max'), v('conv', 'conv/kernel_min', [4]), v('conv', 'conv/kernel_max', [4])],
      totals: { trainable: 10, nonTrainable: 8, total: 18 },
      folded: [{ bn: 'bn', into: 'conv' }],
      layers: [lq('input', 'input', 'input'), lq('conv', 'own-range', 'conv/output'), lq('bn', 'folded', 'conv/output'), lq('pad', 'shared-range', 'conv/output')],
    },
  };
  const conv = explainLayer(e, 'conv');
  assert.equal(conv.quantization?.kind, 'own-range');
  assert.deepEqual(conv.own.map((x) => x.name), ['conv/output/min', 'conv/output/max', 'conv/kernel_min', 'conv/kernel_max']);
  assert.deepEqual([conv.carried, conv.carriedBy], [[], null]);
  assert.deepEqual(conv.keras.map((x) => x.name), ['kernel_min', 'post_activation_min']);
  const pad = explainLayer(e, 'pad');
  assert.deepEqual(pad.own, []);
  assert.deepEqual([pad.carried.map((x) => x.name), pad.carriedBy], [['conv/output/min', 'conv/output/max'], 'conv']);
  assert.deepEqual(pad.keras, []);
  assert.deepEqual(explainLayer(e, 'bn').carried.map((x) => x.name), ['conv/output/min', 'conv/output/max']);
  assert.deepEqual(explainLayer(e, 'input').keras.map((x) => x.name), ['quantize_layer_min']);
  assert.equal(explainLayer(e, 'nope').quantization, null);
});
