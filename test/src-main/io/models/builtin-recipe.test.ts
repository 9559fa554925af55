import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { builtinModels } from '../../../../src-main/io/models/builtins.js';
import type { Graph } from '../../../../src-main/engine/graph/types.js';

before(async () => {
  await tf.setBackend('cpu');
});

/** Each kernel / bias of a graph with torch's fan_in: a dense kernel [in, out] → in; conv [kh, kw, cin, cout] → kh·kw·cin; depthwise [kh, kw, c, 1] → kh·kw. */
function parameters(graph: Graph): { at: string; fanIn: number; values: Float32Array; bias: boolean }[] {
  const out: { at: string; fanIn: number; values: Float32Array; bias: boolean }[] = [];
  for (const n of graph.nodes) {
    if (n.op !== 'dense' && n.op !== 'conv2d' && n.op !== 'depthwiseConv2d') continue;
    const s = n.weights.kernel.shape;
    const fanIn = n.op === 'dense' ? s[0]! : n.op === 'conv2d' ? s[0]! * s[1]! * s[2]! : s[0]! * s[1]!;
    out.push({ at: `${n.name}/kernel`, fanIn, values: n.weights.kernel.values as Float32Array, bias: false });
    if (n.weights.bias) out.push({ at: `${n.name}/bias`, fanIn, values: n.weights.bias.values as Float32Array, bias: true });
  }
  return out;
}

const maxAbs = (v: Float32Array) => v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

test("the torch recipe draws kernels and biases from U(±1/√fan_in) with torch's fan_in", () => {
  for (const entry of builtinModels) {
    const params = parameters(entry.build('torch'));
    assert.ok(params.length > 0, entry.name);
    for (const p of params) {
      const bound = 1 / Math.sqrt(p.fanIn);
      const m = maxAbs(p.values);
      assert.ok(m <= bound * (1 + 1e-6), `${entry.name} ${p.at}: max |w| ${m} above 1/√${p.fanIn}`);
      // A uniform draw of ≥ 100 values reaches past 90 % of its bound (a Glorot or depthwise-as-Keras fan_in would not, for most layers).
      if (p.values.length >= 100) assert.ok(m > 0.9 * bound, `${entry.name} ${p.at}: max |w| ${m} well under 1/√${p.fanIn}`);
      if (p.bias) assert.ok(m > 0, `${entry.name} ${p.at}: torch biases are not zero`);
    }
  }
});

test("the torch recipe gives BatchNormalization torch's ε 1e-5 and momentum 0.1 (0.9 in Keras's terms); keras keeps Keras's ε", () => {
  for (const entry of builtinModels) {
    const torch = entry.build('torch').nodes.filter((n) => n.op === 'batchNorm');
    const keras = entry.build('keras').nodes.filter((n) => n.op === 'batchNorm');
    assert.equal(torch.length, keras.length);
    for (const n of torch) if (n.op === 'batchNorm') assert.deepEqual([n.epsilon, n.momentum], [1e-5, 0.9], `${entry.name} ${n.name}`);
    for (const n of keras) if (n.op === 'batchNorm') assert.equal(n.epsilon, 1e-3, `${entry.name} ${n.name}`);
  }
});

test('the keras recipe is the default build: the same weights, zero biases; torch changes every kernel', () => {
  for (const entry of builtinModels) {
    const byDefault = parameters(entry.build());
    const keras = parameters(entry.build('keras'));
    const torch = parameters(entry.build('torch'));
    assert.deepEqual(keras.map((p) => p.at), byDefault.map((p) => p.at));
    assert.deepEqual(torch.map((p) => p.at), keras.map((p) => p.at), `${entry.name}: same layers either way`);
    keras.forEach((p, i) => {
      assert.deepEqual(p.values, byDefault[i]!.values, `${entry.name} ${p.at}`);
      if (p.bias) assert.equal(maxAbs(p.values), 0, `${entry.name} ${p.at}`);
      else assert.notDeepEqual(torch[i]!.values, p.values, `${entry.name} ${p.at}`);
    });
  }
});

test('another draw (the accuracy bench’s seeds) changes every kernel, not the layers; draw 0 is the built-in itself', () => {
  for (const entry of builtinModels) {
    const own = parameters(entry.build('torch'));
    const zero = parameters(entry.build('torch', 0));
    const other = parameters(entry.build('torch', 1));
    assert.deepEqual(zero.map((p) => Array.from(p.values)), own.map((p) => Array.from(p.values)), entry.name);
    assert.deepEqual(other.map((p) => [p.at, p.values.length]), own.map((p) => [p.at, p.values.length]), entry.name);
    for (let i = 0; i < own.length; i++) {
      if (own[i]!.values.length < 2) continue;
      assert.notDeepEqual(Array.from(other[i]!.values), Array.from(own[i]!.values), `${entry.name} ${own[i]!.at}: the same values in draw 1`);
    }
  }
});
