/**
 * Each target profile's rules on small graphs: what its plan changes (a fused
 * softmax split off, fixed output grids, with the scales and zero points the
 * runtimes' specs state), what it refuses (each naming the layer and what
 * would change), and prepare refusing a run that breaks them.
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { RunConfig, type RunConfigInput, type TargetName } from '../../../../src-main/api/run-config.js';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { graphFromLayersModel } from '../../../../src-main/engine/graph/from-layers.js';
import type { Graph } from '../../../../src-main/engine/graph/types.js';
import { lintModel } from '../../../../src-main/engine/lint.js';
import { prepare } from '../../../../src-main/engine/prepare.js';
import { integerQParams, type QParams } from '../../../../src-main/engine/quant/qparams.js';
import { TARGETS } from '../../../../src-main/engine/targets/index.js';
import { fixedGridQParams } from '../../../../src-main/engine/targets/plan.js';
import { TargetRuleError } from '../../../../src-main/engine/targets/rules.js';
import { conv, seedMobile } from '../graph/mobile-fixtures.js';

before(async () => {
  await initBackend('wasm');
});

type T = tf.SymbolicTensor;
const apply = (layer: tf.layers.Layer, x: T | T[]) => layer.apply(x) as T;

/** conv → max-pool ‖ conv → concatenate → sigmoid, tanh branch → flatten → dense(softmax): every rule the profiles state. */
function classifier(): Graph {
  const input = tf.input({ shape: [6, 6, 2], name: 'input' });
  const a = apply(tf.layers.maxPooling2d({ name: 'pool', poolSize: 2 }), apply(conv('conv_a', 3, 3, { padding: 'same', activation: 'relu' }), input));
  const b = apply(conv('conv_b', 3, 2, { strides: 2, padding: 'same' }), input);
  const cat = apply(tf.layers.concatenate({ name: 'cat' }), [a, b]);
  const sig = apply(tf.layers.activation({ name: 'sig', activation: 'sigmoid' }), apply(conv('conv_c', 4, 1), cat));
  const th = apply(tf.layers.activation({ name: 'th', activation: 'tanh' }), sig);
  const out = apply(tf.layers.dense({ name: 'head', units: 5, activation: 'softmax' }), apply(tf.layers.flatten({ name: 'flat' }), th));
  const model = seedMobile(tf.model({ inputs: input, outputs: out, name: 'classifier' }), 5);
  const graph = graphFromLayersModel(model);
  model.dispose();
  return graph;
}

const cfg = (target: TargetName | undefined, extra: Partial<RunConfigInput> = {}): RunConfig =>
  RunConfig.parse({ modelId: 1, datasetId: 1, ...(target ? { target } : {}), ...extra });

/** A quantizer's grid as the integer formats store it (signed domain): scale and zero point. */
function signedGrid(qp: QParams) {
  const iq = integerQParams(qp, 'signed');
  return { scale: iq.scale[0], zeroPoint: iq.zeroPoint[0] };
}

describe('tflite-int8', () => {
  test('splits the fused softmax (logits get a range) and fixes SOFTMAX, LOGISTIC and TANH at 1/256 zp -128, 1/256 zp -128, 1/128 zp 0', () => {
    const graph = classifier();
    const { graph: g, plan } = prepare(graph, cfg('tflite-int8'));
    assert.equal(g.output, 'head/softmax');
    const logits = plan.activations.find((a) => a.at === 'head')!;
    assert.equal(logits.fixed, undefined, 'the logits are calibrated like any tensor');
    const grids = fixedGridQParams(plan);
    assert.deepEqual([...grids.keys()].sort(), ['head/softmax/output', 'sig/output', 'th/output']);
    assert.deepEqual(signedGrid(grids.get('head/softmax/output')!), { scale: 1 / 256, zeroPoint: -128 });
    assert.deepEqual(signedGrid(grids.get('sig/output')!), { scale: 1 / 256, zeroPoint: -128 });
    assert.deepEqual(signedGrid(grids.get('th/output')!), { scale: 1 / 128, zeroPoint: 0 });
    // Shared scales: the pool passes its input's range on, the concatenation's inputs share its grid.
    assert.equal(plan.tensors.find((t) => t.tensor === 'pool')!.how, 'passed-through');
    assert.equal(plan.activations.find((a) => a.name === 'conv_a/output')!.sharedWith, 'cat/output');
    assert.equal(plan.activations.find((a) => a.name === 'conv_b/output')!.sharedWith, 'cat/output');
  });

  test('without a target the plan is as before: the softmax stays fused, no grid is fixed', () => {
    const { graph: g, plan } = prepare(classifier(), cfg(undefined));
    assert.equal(g.output, 'head');
    assert.equal(fixedGridQParams(plan).size, 0);
  });

  test('refuses 4-bit weights, naming the layer and the 8-bit limit, before anything runs', () => {
    assert.throws(
      () => prepare(classifier(), cfg('tflite-int8', { weights: { bits: 4, symmetric: true, narrowRange: true, granularity: 'per-channel' } })),
      (e: unknown) => e instanceof TargetRuleError && e.violation.code === 'target-weight-bits' && e.violation.layer === 'conv_a' && /conv_a.*4 bits; tflite-int8 stores 8-bit weights/.test(e.message) && /weights\.bits to 8/.test(e.message),
    );
  });

  test('lint: one error per config setting the target cannot hold, each naming the layer and what would change', () => {
    const findings = lintModel(
      classifier(),
      cfg('tflite-int8', {
        weights: { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-channel' },
        activations: { bits: 16, symmetric: false, narrowRange: false, granularity: 'per-tensor' },
        overrides: [{ layer: 'conv_c', float: true }],
      }),
    );
    const errors = findings.filter((f) => f.code.startsWith('target-'));
    const byCode = new Map(errors.map((f) => [f.code, f]));
    assert.deepEqual([...byCode.keys()].sort(), ['target-activation-bits', 'target-float-layer', 'target-plan', 'target-weight-narrow', 'target-weight-symmetric']);
    assert.match(byCode.get('target-weight-symmetric')!.message, /^layer conv_a \(and 2 more layers\): asymmetric weights/);
    assert.equal(byCode.get('target-weight-symmetric')!.fix, 'Set weights.symmetric to true.');
    assert.match(byCode.get('target-activation-bits')!.message, /activation of 16 bits; tflite-int8 computes 8-bit activations/);
    assert.match(byCode.get('target-activation-bits')!.fix, /--act-bits 8/);
    assert.equal(byCode.get('target-float-layer')!.layer, 'conv_c');
    assert.equal(byCode.get('target-plan')!.severity, 'info');
    for (const f of errors.filter((x) => x.code !== 'target-plan')) assert.equal(f.severity, 'error');
  });

  test('softmax inside the model is refused, on a PTQ and a QAT run alike', () => {
    const input = tf.input({ shape: [4], name: 'input' });
    const mid = apply(tf.layers.dense({ name: 'mid', units: 4, activation: 'softmax' }), input);
    const model = seedMobile(tf.model({ inputs: input, outputs: apply(tf.layers.dense({ name: 'out', units: 3 }), mid), name: 'mid_softmax' }), 3);
    const graph = graphFromLayersModel(model);
    model.dispose();
    const op = lintModel(graph, cfg('tflite-int8')).find((f) => f.code === 'target-op');
    assert.equal(op?.layer, 'mid/softmax');
    assert.match(op!.message, /softmax inside the model/);
    // QAT takes a target too (engine/qat/run.ts): the same rules, the same findings.
    assert.equal(lintModel(graph, cfg('tflite-int8'), { kind: 'qat' }).find((f) => f.code === 'target-op')?.layer, 'mid/softmax');
    const qat = lintModel(classifier(), cfg('tflite-int8'), { kind: 'qat' }).filter((f) => f.code.startsWith('target-'));
    assert.ok(qat.some((f) => f.code === 'target-plan'), 'the softmax split and fixed grids are reported for QAT');
    assert.deepEqual(qat, lintModel(classifier(), cfg('tflite-int8')).filter((f) => f.code.startsWith('target-')));
  });
});

describe('onnx-ort-cpu', () => {
  test("softmax output on QDQSoftmax's grid: 1/256 zero point 0 (uint8), 1/128 zero point 0 with symmetric activations", () => {
    const asym = fixedGridQParams(prepare(classifier(), cfg('onnx-ort-cpu')).plan);
    assert.deepEqual([...asym.keys()], ['head/softmax/output'], 'sigmoid and tanh keep their calibrated ranges');
    const u = asym.get('head/softmax/output')!;
    assert.deepEqual({ scale: u.scale[0], zeroPoint: u.zeroPoint[0] }, { scale: 1 / 256, zeroPoint: 0 });
    const sym = fixedGridQParams(prepare(classifier(), cfg('onnx-ort-cpu', { activations: { bits: 8, symmetric: true, narrowRange: false, granularity: 'per-tensor' } })).plan);
    assert.deepEqual(signedGrid(sym.get('head/softmax/output')!), { scale: 1 / 128, zeroPoint: 0 });
  });

  test('keeps float layers (QDQ holds them) but not 4-bit weights or per-channel activations', () => {
    const ok = lintModel(classifier(), cfg('onnx-ort-cpu', { overrides: [{ layer: 'conv_c', float: true }] })).filter((f) => f.severity === 'error');
    assert.deepEqual(ok, []);
    const codes = lintModel(classifier(), cfg('onnx-ort-cpu', { overrides: [{ layer: 'conv_b', weightBits: 4 }], activations: { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-channel' } }))
      .filter((f) => f.severity === 'error')
      .map((f) => `${f.code} ${f.layer}`);
    assert.deepEqual(codes.sort(), ['target-activation-granularity input', 'target-weight-bits conv_b']);
  });
});

describe('onnx-tensorrt', () => {
  test('asymmetric activations are refused (TensorRT: zero point 0); symmetric ones pass, with no softmax split or fixed grid', () => {
    const refused = lintModel(classifier(), cfg('onnx-tensorrt')).find((f) => f.code === 'target-activation-zero-point');
    assert.equal(refused?.layer, 'input');
    assert.match(refused!.fix, /--symmetric-activations/);
    const sym = cfg('onnx-tensorrt', { activations: { bits: 8, symmetric: true, narrowRange: false, granularity: 'per-tensor' } });
    assert.deepEqual(lintModel(classifier(), sym).filter((f) => f.severity === 'error'), []);
    const { graph, plan } = prepare(classifier(), sym);
    assert.equal(graph.output, 'head');
    assert.equal(fixedGridQParams(plan).size, 0);
    for (const a of plan.activations) assert.equal(a.spec.symmetric, true, a.name);
  });

  test('every profile names itself, its format and sources', () => {
    for (const [name, p] of Object.entries(TARGETS)) {
      assert.equal(p.name, name);
      assert.ok(p.sources.length > 0 && p.summary.length > 0);
      assert.ok(p.format === 'tflite' || p.format === 'onnx');
    }
  });
});
