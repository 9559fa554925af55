import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LintFinding } from '../../../src-main/api/contract.js';
import type { Graph } from '../../../src-main/engine/graph/types.js';
import { builtinModel } from '../../../src-main/io/models/builtins.js';
import { foldBatchNorm } from '../../../src-main/engine/transform/index.js';
import { lintModel, lintSummary } from '../../../src-main/engine/lint.js';
import { act, add, batchNorm, config, conv, dense, depthwise, flatten, graphOf, input, maxPool } from './transform/graphs.js';

type Finding = LintFinding;

/** [severity, code, layer] of each finding, in order. */
function keys(findings: Finding[]): [string, string, string | null][] {
  return findings.map((f) => [f.severity, f.code, f.layer]);
}

function only(findings: Finding[], code: string): Finding[] {
  return findings.filter((f) => f.code === code);
}

const perChannel = (axis?: number) => ({ bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' as const, ...(axis !== undefined ? { axis } : {}) });

/** input → conv2d → activation(relu) → batch_normalization → conv2d_1 → flatten → dense: the seed's Conv → ReLU → BN. */
function convReluBn(): Graph {
  const x = input('input', [6, 6, 3]);
  const c = conv('conv2d', x, 4);
  const relu = act('activation', c, 'relu');
  const bn = batchNorm('batch_normalization', relu);
  const c2 = conv('conv2d_1', bn, 4);
  const f = flatten('flatten', c2);
  const d = dense('dense', f, 3);
  return graphOf('conv_relu_bn', x, c, relu, bn, c2, f, d);
}

/** input → conv2d → batch_normalization → activation(relu) → flatten → dense: everything folds and fuses. */
function convBnRelu(): Graph {
  const x = input('input', [6, 6, 3]);
  const c = conv('conv2d', x, 4, { bias: false });
  const bn = batchNorm('batch_normalization', c);
  const relu = act('activation', bn, 'relu');
  const f = flatten('flatten', relu);
  const d = dense('dense', f, 3, { activation: 'softmax' });
  return graphOf('conv_bn_relu', x, c, bn, relu, f, d);
}

test('every finding validates against the contract schema and names a layer or the model', () => {
  const findings = [
    ...lintModel(convReluBn(), config({ overrides: [{ layer: 'dense', float: true }, { layer: 'nope', weightBits: 4 }] }), { unsupportedLayers: [{ name: 'lambda', className: 'Lambda' }] }),
    ...lintModel(convBnRelu(), config({ weights: perChannel(0), activations: { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-channel' } })),
  ];
  assert.ok(findings.length >= 8);
  for (const f of findings) {
    LintFinding.parse(f);
    assert.ok(f.message.length > 0 && f.fix.length > 0, f.code);
    assert.ok(!/\n/.test(f.message + f.fix), 'one line each');
  }
});

test('Conv → ReLU → BN: the BN is reported unfoldable (after-activation, move it before the ReLU); it becomes a multiply-add with its own range, so conv2d_1 reads a quantized tensor', () => {
  const findings = lintModel(convReluBn(), config());
  assert.deepEqual(keys(findings), [['warning', 'bn-not-foldable', 'batch_normalization']]);
  const [bn] = findings as [Finding];
  assert.match(bn.message, /reads activation \(Activation\), the relu applied to conv2d \(Conv2D\)/);
  assert.match(bn.message, /per-channel multiply-add of its own, x·s \+ t .* its own output range, as TFLite's converter writes such a BN \(MUL \+ ADD\)/);
  assert.doesNotMatch(bn.message, /float/);
  assert.match(bn.fix, /Move batch_normalization before the activation \(Conv2D conv2d → BatchNormalization → relu\)/);
  assert.match(bn.fix, /or leave it: batch_normalization runs as its own integer multiply-add/);
  // QAT says how it trains.
  const qat = only(lintModel(convReluBn(), config({ training: { bnFreezeStep: 30 } }), { kind: 'qat' }), 'bn-not-foldable');
  assert.match(qat[0]!.message, /In QAT it trains as a BatchNormalization .* first 30 steps.* fake-quantized/);
});

test('a BN kept float by an override: conv2d_1 reads a tensor without a range, traced to the override', () => {
  const findings = lintModel(convReluBn(), config({ overrides: [{ layer: 'batch_normalization', float: true }] }));
  const range = only(findings, 'tensor-without-range');
  assert.deepEqual(keys(range), [['warning', 'tensor-without-range', 'batch_normalization']]);
  assert.match(range[0]!.message, /Tensor batch_normalization \(output of batch_normalization \(BatchNormalization\)\) will have no range \(min\/max\), but the quantized conv2d_1 \(Conv2D\) reads it/);
  assert.match(range[0]!.message, /kept float by an override/);
  assert.match(range[0]!.message, /lacking min\/max data/);
  assert.match(range[0]!.fix, /Remove the float override of batch_normalization, or keep conv2d_1 float too: overrides: \[\{ layer: 'conv2d_1', float: true \}\]/);
  assert.deepEqual(only(findings, 'override-unknown-layer'), []);
});

test('a range missing behind a pass-through op is traced to its source', () => {
  const x = input('input', [6, 6, 3]);
  const c = conv('conv2d', x, 4);
  const relu = act('activation', c, 'relu');
  const bn = batchNorm('batch_normalization', relu);
  const pool = maxPool('max_pooling2d', bn);
  const c2 = conv('conv2d_1', pool, 4);
  const c3 = conv('conv2d_2', pool, 4);
  const sum = add('add', c2, c3);
  const findings = only(lintModel(graphOf('g', x, c, relu, bn, pool, c2, c3, sum), config({ overrides: [{ layer: 'batch_normalization', float: true }] })), 'tensor-without-range');
  // One finding for the tensor, naming both quantized readers.
  assert.equal(findings.length, 1);
  assert.equal(findings[0]!.layer, 'max_pooling2d');
  assert.match(findings[0]!.message, /output of max_pooling2d \(MaxPooling2D\), which passes on the range of batch_normalization \(BatchNormalization\)/);
  assert.match(findings[0]!.message, /conv2d_1 \(Conv2D\), conv2d_2 \(Conv2D\) read it/);
});

test('Conv2D(activation relu) → BN: fused activation, fix says to make the conv linear', () => {
  const x = input('input', [6, 6, 3]);
  const c = conv('conv2d', x, 4, { activation: 'relu' });
  const bn = batchNorm('batch_normalization', c);
  const f = only(lintModel(graphOf('g', x, c, bn), config()), 'bn-not-foldable');
  assert.equal(f.length, 1);
  assert.match(f[0]!.message, /applies activation 'relu' itself/);
  assert.match(f[0]!.fix, /Build conv2d with activation 'linear'/);
});

test('BN whose producer has another reader: shared-producer, naming the other reader', () => {
  const x = input('input', [6, 6, 3]);
  const c = conv('conv2d', x, 4);
  const bn = batchNorm('batch_normalization', c);
  const sum = add('add', c, bn);
  const findings = lintModel(graphOf('g', x, c, bn, sum), config());
  const f = only(findings, 'bn-not-foldable');
  assert.equal(f.length, 1);
  assert.match(f[0]!.message, /conv2d \(Conv2D\)'s output is also read by add/);
  assert.match(f[0]!.fix, /Let batch_normalization be the only reader of conv2d/);
  // …and the Add reads the BN's multiply-add, which has its own range.
  assert.deepEqual(only(findings, 'tensor-without-range'), []);
});

test('Conv → Activation(linear) → BN: the fix is to remove the no-op activation', () => {
  const x = input('input', [6, 6, 3]);
  const c = conv('conv2d', x, 4);
  const lin = act('activation', c, 'linear');
  const bn = batchNorm('batch_normalization', lin);
  const f = only(lintModel(graphOf('g', x, c, lin, bn), config()), 'bn-not-foldable');
  assert.match(f[0]!.message, /a linear Activation between it and conv2d/);
  assert.match(f[0]!.fix, /Remove activation/);
});

test('BN after a pooling layer: not after a weighted layer', () => {
  const x = input('input', [6, 6, 3]);
  const c = conv('conv2d', x, 4);
  const pool = maxPool('max_pooling2d', c);
  const bn = batchNorm('batch_normalization', pool);
  const f = only(lintModel(graphOf('g', x, c, pool, bn), config()), 'bn-not-foldable');
  assert.match(f[0]!.message, /reads max_pooling2d \(MaxPooling2D\), not a Dense, Conv2D or DepthwiseConv2D/);
});

test('foldable BNs are info, naming the layer they fold into; a clean model has nothing else', () => {
  const findings = lintModel(convBnRelu(), config());
  assert.deepEqual(keys(findings), [['info', 'bn-folded', 'batch_normalization']]);
  assert.match(findings[0]!.message, /batch_normalization \(BatchNormalization\) will be folded into conv2d \(Conv2D\), 4 channels/);
  assert.match(findings[0]!.message, /conv2d had no bias and gets one/);
  // QAT says how the fold trains.
  const qat = lintModel(convBnRelu(), config({ training: { bnFreezeStep: 50 } }), { kind: 'qat' });
  assert.match(qat[0]!.message, /first 50 steps/);
  // The built-ins lint clean apart from their folds.
  for (const name of ['fashion_cnn', 'fashion_dwsep', 'conv_bn_relu_dense']) {
    const f = lintModel(builtinModel(name).build(), config());
    assert.ok(f.every((x) => x.code === 'bn-folded'), `${name}: ${lintSummary(f)}`);
    assert.equal(f.length, foldBatchNorm(builtinModel(name).build()).folded.length);
  }
});

test('a float-kept layer feeding a quantized one: info for the override, warning for the tensor', () => {
  const findings = lintModel(convBnRelu(), config({ overrides: [{ layer: 'conv2d', float: true }] }));
  assert.deepEqual(keys(findings), [
    ['warning', 'tensor-without-range', 'flatten'],
    ['info', 'bn-folded', 'batch_normalization'],
    ['info', 'float-override', 'conv2d'],
    ['info', 'float-override', 'activation'],
  ]);
  const range = findings[0]!;
  assert.match(range.message, /passes on the range of activation \(Activation\)/);
  assert.match(range.message, /kept float by an override as part of one op with conv2d/);
  assert.match(range.message, /quantized dense \(Dense\) reads it/);
  assert.match(range.fix, /Remove the float override of conv2d, or keep dense float too/);
  assert.match(findings[3]!.message, /as one op with conv2d/);
});

test('unsupported layers: error that stops the run under stop, warning under keep-float', () => {
  const unsupportedLayers = [{ name: 'lambda', className: 'Lambda' }];
  const stop = only(lintModel(convBnRelu(), config({ unsupported: 'stop' }), { unsupportedLayers }), 'unsupported-layer');
  assert.deepEqual(keys(stop), [['error', 'unsupported-layer', 'lambda']]);
  assert.match(stop[0]!.message, /lambda \(Lambda\).*the run stops/);
  assert.match(stop[0]!.fix, /unsupported: keep-float/);
  const keep = only(lintModel(convBnRelu(), config({ unsupported: 'keep-float' }), { unsupportedLayers }), 'unsupported-layer');
  assert.deepEqual(keys(keep), [['warning', 'unsupported-layer', 'lambda']]);
  assert.match(keep[0]!.message, /will run in float/);
});

test('per-channel axis: missing axis is an error per layer; a 1-channel axis is an error; another axis is a warning', () => {
  // axis 3: fine for the conv [3,3,3,4], missing for the Dense [144,3].
  const missing = lintModel(convBnRelu(), config({ weights: perChannel(3) }));
  assert.deepEqual(keys(missing.filter((f) => f.severity === 'error')), [['error', 'axis-missing', 'dense']]);
  assert.match(missing[0]!.message, /weights\.axis 3 does not exist for the kernel of dense \(Dense\) \[144,3\], which has 2 axes/);
  // Depthwise kernels are quantized on [kh,kw,in·mult]: axis 3 does not exist there either.
  const x = input('input', [6, 6, 3]);
  const dw = depthwise('depthwise_conv2d', x, 2);
  const dwFind = lintModel(graphOf('dw', x, dw), config({ weights: perChannel(3) }));
  assert.deepEqual(keys(dwFind), [['error', 'axis-missing', 'depthwise_conv2d']]);
  assert.match(dwFind[0]!.message, /quantized as \[3,3,6\], in·mult = 6 output channels/);
  // axis 0 of a 1x1 conv holds one value for 8 output channels.
  const pw = conv('conv2d', x, 8, { k: 1 });
  assert.deepEqual(keys(lintModel(graphOf('pw', x, pw), config({ weights: perChannel(0) }))), [['error', 'axis-single-channel', 'conv2d']]);
  // axis 2 of a 3x3 conv is its input channels: a warning, the run can go on.
  const c = conv('conv2d', x, 8);
  const other = lintModel(graphOf('c', x, c), config({ weights: perChannel(2) }));
  assert.deepEqual(keys(other), [['warning', 'axis-not-output-channels', 'conv2d']]);
  // Default and -1 are the output channels: nothing to say. A float-kept layer has no weight quantizer to check.
  assert.deepEqual(lintModel(graphOf('c', x, c), config({ weights: perChannel(-1) })), []);
  assert.deepEqual(keys(lintModel(convBnRelu(), config({ weights: perChannel(3), overrides: [{ layer: 'dense', float: true }] })).filter((f) => f.severity === 'error')), []);
  // Per-tensor weights ignore the axis.
  assert.deepEqual(keys(lintModel(graphOf('pw', x, pw), config({ weights: { ...perChannel(7), granularity: 'per-tensor' } }))), []);
});

test('per-channel activations: one model-level warning', () => {
  const f = only(lintModel(convBnRelu(), config({ activations: { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-channel' } })), 'activation-per-channel');
  assert.deepEqual(keys(f), [['warning', 'activation-per-channel', null]]);
  assert.match(f[0]!.fix, /per-tensor/);
});

test('overrides naming no layer, or a folded BN, are reported', () => {
  const f = only(lintModel(convBnRelu(), config({ overrides: [{ layer: 'batch_normalization', weightBits: 4 }, { layer: 'dense_9', float: true }] })), 'override-unknown-layer');
  assert.deepEqual(keys(f), [
    ['warning', 'override-unknown-layer', 'batch_normalization'],
    ['warning', 'override-unknown-layer', 'dense_9'],
  ]);
  assert.match(f[0]!.fix, /Put the override on conv2d instead/);
  assert.match(f[1]!.message, /no layer named dense_9/);
});

test('float runs get no findings; findings come errors first', () => {
  const unsupportedLayers = [{ name: 'lambda', className: 'Lambda' }];
  assert.deepEqual(lintModel(convReluBn(), config({ weights: perChannel(3) }), { kind: 'float', unsupportedLayers }), []);
  const findings = lintModel(convReluBn(), config({ weights: perChannel(3) }), { kind: 'ptq', unsupportedLayers });
  const order = findings.map((f) => ({ error: 0, warning: 1, info: 2 })[f.severity]);
  assert.deepEqual(order, [...order].sort());
  assert.equal(findings[0]!.severity, 'error');
});

test('lintModel on an already folded graph: no BatchNormalization is left (folded, or a multiply-add), so no BN findings and nothing else', () => {
  const { graph } = foldBatchNorm(convReluBn());
  assert.deepEqual(lintModel(graph, config()), []);
  assert.deepEqual(lintModel(foldBatchNorm(convBnRelu()).graph, config()), []);
});

test('lintSummary: one line per finding with severity, code, layer, message and fix', () => {
  const findings = lintModel(convReluBn(), config({ overrides: [{ layer: 'nope', float: true }] }), { unsupportedLayers: [{ name: 'lambda', className: 'Lambda' }] });
  const lines = lintSummary(findings).split('\n');
  assert.equal(lines.length, findings.length);
  lines.forEach((line, i) => {
    const f = findings[i]!;
    assert.ok(line.startsWith(f.severity.toUpperCase()), line);
    assert.ok(line.includes(` ${f.code} ${f.layer ?? '(model)'}: ${f.message} Fix: ${f.fix}`), line);
  });
  assert.equal(lintSummary([]), '');
});
