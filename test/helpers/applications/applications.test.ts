/**
 * The keras.applications builders: parameter counts against Keras's
 * model.summary() totals and an independent count of each architecture, the
 * Keras layer names, seeded weights that give sane and deterministic outputs,
 * and the transfer-learning / Teachable Machine nestings.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../src-main/engine/backend.js';
import {
  applications,
  denseNet121,
  efficientNetB0,
  makeDivisible,
  missingClasses,
  mobileNet,
  mobileNetV2,
  mobileNetV3Large,
  mobileNetV3Small,
  resNet50,
  seededInput,
  teachableMachine,
  transferLearning,
  type ApplicationOptions,
} from './index.js';

before(async () => {
  await initBackend('wasm');
});

// ---------------------------------------------------------------------------
// Parameter counts, computed from the Keras definitions by arithmetic alone.

const conv = (k: number, cin: number, cout: number, bias: boolean) => k * k * cin * cout + (bias ? cout : 0);
const bn = (c: number) => 4 * c; // gamma, beta, moving mean, moving variance

function mobileNetParams(alpha: number, classes: number): number {
  const f = (c: number) => Math.trunc(c * alpha);
  let cin = f(32);
  let p = conv(3, 3, cin, false) + bn(cin);
  for (const out of [64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]) {
    p += 9 * cin + bn(cin) + conv(1, cin, f(out), false) + bn(f(out));
    cin = f(out);
  }
  return p + conv(1, cin, classes, true);
}

function mobileNetV2Params(alpha: number, classes: number): number {
  let cin = makeDivisible(32 * alpha);
  let p = conv(3, 3, cin, false) + bn(cin);
  const blocks: [number, number][] = [[16, 1], [24, 6], [24, 6], [32, 6], [32, 6], [32, 6], [64, 6], [64, 6], [64, 6], [64, 6], [96, 6], [96, 6], [96, 6], [160, 6], [160, 6], [160, 6], [320, 6]];
  blocks.forEach(([filters, t], id) => {
    const out = makeDivisible(Math.trunc(filters * alpha));
    const e = id ? t * cin : cin;
    if (id) p += conv(1, cin, e, false) + bn(e);
    p += 9 * e + bn(e) + conv(1, e, out, false) + bn(out);
    cin = out;
  });
  const last = alpha > 1 ? makeDivisible(1280 * alpha) : 1280;
  return p + conv(1, cin, last, false) + bn(last) + conv(1, last, classes, true);
}

/** rows: [expansion, filters, kernel, squeeze-excite]. */
function mobileNetV3Params(rows: [number, number, number, boolean][], lastPoint: number, alpha: number, classes: number): number {
  let cin = 16;
  let p = conv(3, 3, 16, false) + bn(16);
  rows.forEach(([t, filters, k, se], id) => {
    const out = makeDivisible(filters * alpha);
    const e = id ? makeDivisible(cin * t) : cin;
    if (id) p += conv(1, cin, e, false) + bn(e);
    p += k * k * e + bn(e);
    if (se) {
      const squeezed = makeDivisible(makeDivisible(cin * t) * 0.25);
      p += conv(1, e, squeezed, true) + conv(1, squeezed, e, true);
    }
    p += conv(1, e, out, false) + bn(out);
    cin = out;
  });
  const lastConv = makeDivisible(cin * 6);
  const point = alpha > 1 ? makeDivisible(lastPoint * alpha) : lastPoint;
  return p + conv(1, cin, lastConv, false) + bn(lastConv) + conv(1, lastConv, point, true) + conv(1, point, classes, true);
}
const V3_SMALL: [number, number, number, boolean][] = [[1, 16, 3, true], [72 / 16, 24, 3, false], [88 / 24, 24, 3, false], [4, 40, 5, true], [6, 40, 5, true], [6, 40, 5, true], [3, 48, 5, true], [3, 48, 5, true], [6, 96, 5, true], [6, 96, 5, true], [6, 96, 5, true]];
const V3_LARGE: [number, number, number, boolean][] = [[1, 16, 3, false], [4, 24, 3, false], [3, 24, 3, false], [3, 40, 5, true], [3, 40, 5, true], [3, 40, 5, true], [6, 80, 3, false], [2.5, 80, 3, false], [2.3, 80, 3, false], [2.3, 80, 3, false], [6, 112, 3, true], [6, 112, 3, true], [6, 160, 5, true], [6, 160, 5, true], [6, 160, 5, true]];

/** [kernel, repeats, in, out, expansion] of EfficientNetB0's stages. */
const B0_STAGES = [[3, 1, 32, 16, 1], [3, 2, 16, 24, 6], [5, 2, 24, 40, 6], [3, 3, 40, 80, 6], [5, 3, 80, 112, 6], [5, 4, 112, 192, 6], [3, 1, 192, 320, 6]] as const;

function efficientNetB0Params(classes: number): number {
  let p = 3 + 3 + 1; // Normalization: mean, variance, count
  p += conv(3, 3, 32, false) + bn(32);
  for (const [k, repeats, fin0, fout, t] of B0_STAGES) {
    for (let j = 0; j < repeats; j++) {
      const fin = j ? fout : fin0;
      const f = fin * t;
      if (t !== 1) p += conv(1, fin, f, false) + bn(f);
      p += k * k * f + bn(f);
      const se = Math.max(1, Math.trunc(fin * 0.25));
      p += conv(1, f, se, true) + conv(1, se, f, true);
      p += conv(1, f, fout, false) + bn(fout);
    }
  }
  return p + conv(1, 320, 1280, false) + bn(1280) + 1280 * classes + classes;
}

function resNet50Params(classes: number): number {
  let p = conv(7, 3, 64, true) + bn(64);
  let cin = 64;
  for (const [f, blocks] of [[64, 3], [128, 4], [256, 6], [512, 3]] as const) {
    for (let b = 0; b < blocks; b++) {
      if (b === 0) p += conv(1, cin, 4 * f, true) + bn(4 * f);
      p += conv(1, cin, f, true) + bn(f) + conv(3, f, f, true) + bn(f) + conv(1, f, 4 * f, true) + bn(4 * f);
      cin = 4 * f;
    }
  }
  return p + cin * classes + classes;
}

function denseNet121Params(classes: number): number {
  let p = conv(7, 3, 64, false) + bn(64);
  let c = 64;
  [6, 12, 24, 16].forEach((blocks, i) => {
    for (let b = 0; b < blocks; b++) {
      p += bn(c) + conv(1, c, 128, false) + bn(128) + conv(3, 128, 32, false);
      c += 32;
    }
    if (i < 3) {
      p += bn(c) + conv(1, c, Math.trunc(c / 2), false);
      c = Math.trunc(c / 2);
    }
  });
  return p + bn(c) + c * classes + classes;
}

interface Case {
  name: string;
  build: (o?: ApplicationOptions) => tf.LayersModel;
  /** Keras's model.summary() total for the default configuration (alpha 1, 224, 1000 classes). */
  published: number;
  formula: (alpha: number, classes: number) => number;
  small: ApplicationOptions;
  kerasName: (o: ApplicationOptions) => string;
}

const CASES: Case[] = [
  { name: 'MobileNet', build: mobileNet, published: 4_253_864, formula: mobileNetParams, small: { alpha: 0.25, inputSize: 96, classes: 10 }, kerasName: (o) => `mobilenet_${(o.alpha ?? 1).toFixed(2)}_${o.inputSize ?? 224}` },
  { name: 'MobileNetV2', build: mobileNetV2, published: 3_538_984, formula: mobileNetV2Params, small: { alpha: 0.35, inputSize: 96, classes: 10 }, kerasName: (o) => `mobilenetv2_${(o.alpha ?? 1).toFixed(2)}_${o.inputSize ?? 224}` },
  { name: 'MobileNetV3Small', build: mobileNetV3Small, published: 2_554_968, formula: (a, c) => mobileNetV3Params(V3_SMALL, 1024, a, c), small: { alpha: 0.75, inputSize: 96, classes: 10 }, kerasName: () => 'MobileNetV3Small' },
  { name: 'MobileNetV3Large', build: mobileNetV3Large, published: 5_507_432, formula: (a, c) => mobileNetV3Params(V3_LARGE, 1280, a, c), small: { alpha: 0.75, inputSize: 96, classes: 10 }, kerasName: () => 'MobileNetV3Large' },
  { name: 'EfficientNetB0', build: efficientNetB0, published: 5_330_571, formula: (_a, c) => efficientNetB0Params(c), small: { inputSize: 64, classes: 10 }, kerasName: () => 'efficientnetb0' },
  { name: 'ResNet50', build: resNet50, published: 25_636_712, formula: (_a, c) => resNet50Params(c), small: { inputSize: 64, classes: 10 }, kerasName: () => 'resnet50' },
  { name: 'DenseNet121', build: denseNet121, published: 8_062_504, formula: (_a, c) => denseNet121Params(c), small: { inputSize: 64, classes: 10 }, kerasName: () => 'densenet121' },
];

/** Why a builder cannot run here: the engine classes it needs and does not find registered. */
function skipReason(name: string): string | false {
  const needs = applications.find((a) => a.name === name)!.needs;
  const missing = missingClasses(needs);
  return missing.length > 0 ? `needs ${missing.join(', ')} registered by src-main/engine/graph/tfjs-compat` : false;
}

for (const c of CASES) {
  test(`${c.name}: parameters at alpha 1, 224x224, 1000 classes are Keras's ${c.published.toLocaleString('en')}`, { skip: skipReason(c.name) }, () => {
    assert.equal(c.formula(1, 1000), c.published, 'the arithmetic count');
    const model = c.build({ seed: null }); // building only: no seeding, no forward pass
    try {
      assert.equal(model.countParams(), c.published);
      assert.equal(model.name, c.kerasName({}));
    } finally {
      model.dispose();
    }
  });

  test(`${c.name}: small build (${JSON.stringify(c.small)}) has the counted parameters and predicts finite, varying outputs`, { skip: skipReason(c.name) }, () => {
    const model = c.build({ ...c.small, seed: 1 });
    const x = seededInput([3, ...(model.inputs[0]!.shape.slice(1) as number[])], 2);
    try {
      assert.equal(model.countParams(), c.formula(c.small.alpha ?? 1, c.small.classes!));
      assert.equal(model.name, c.kerasName(c.small));
      assert.deepEqual(model.outputs[0]!.shape, [null, c.small.classes]);
      const y = model.predict(x) as tf.Tensor;
      const rows = y.arraySync() as number[][];
      y.dispose();
      for (const row of rows) {
        assert.ok(row.every(Number.isFinite), 'finite');
        assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-4, 'softmax rows sum to 1');
      }
      const spread = Math.max(...rows[0]!.map((v, i) => Math.abs(v - rows[1]![i]!)));
      assert.ok(spread > 1e-3, `samples 0 and 1 differ (max |diff| ${spread})`);
    } finally {
      x.dispose();
      model.dispose();
    }
  });
}

test('seeded logits at 224x224 stay in range through the whole depth', async (t) => {
  for (const c of CASES) {
    await t.test(c.name, { skip: skipReason(c.name) }, () => {
      const model = c.build({ seed: 7, classifierActivation: 'linear' });
      const x = seededInput([4, 224, 224, 3], 8);
      try {
        const logits = model.predict(x) as tf.Tensor;
        const d = Array.from(logits.dataSync());
        const rows = logits.arraySync() as number[][];
        logits.dispose();
        assert.ok(d.every(Number.isFinite), 'finite');
        const mean = d.reduce((a, b) => a + b, 0) / d.length;
        const std = Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / d.length);
        assert.ok(std > 0.1 && std < 100, `logit std ${std}`);
        const spread = Math.max(...rows[0]!.map((v, i) => Math.abs(v - rows[1]![i]!)));
        assert.ok(spread > 1e-2, `logits vary across samples (max |diff| ${spread})`);
      } finally {
        x.dispose();
        model.dispose();
      }
    });
  }
});

// ---------------------------------------------------------------------------
// Layer names, as the Keras sources name them.

function sameNames(model: tf.LayersModel, expected: string[]): void {
  const actual = model.layers.map((l) => l.name);
  assert.equal(new Set(actual).size, actual.length, 'unique names');
  const missing = expected.filter((n) => !actual.includes(n));
  const extra = actual.filter((n) => !expected.includes(n));
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] });
}

test('MobileNet: Keras layer names', () => {
  const model = mobileNet({ alpha: 0.25, inputSize: 96, classes: 10, seed: null });
  const expected = ['input_layer', 'conv1', 'conv1_bn', 'conv1_relu'];
  for (let i = 1; i <= 13; i++) {
    if ([2, 4, 6, 12].includes(i)) expected.push(`conv_pad_${i}`);
    expected.push(`conv_dw_${i}`, `conv_dw_${i}_bn`, `conv_dw_${i}_relu`, `conv_pw_${i}`, `conv_pw_${i}_bn`, `conv_pw_${i}_relu`);
  }
  expected.push('global_average_pooling2d', 'dropout', 'conv_preds', 'reshape_2', 'predictions');
  sameNames(model, expected);
  model.dispose();
});

test('MobileNetV2: Keras layer names', () => {
  const model = mobileNetV2({ alpha: 0.35, inputSize: 96, classes: 10, seed: null });
  const expected = ['input_layer', 'Conv1', 'bn_Conv1', 'Conv1_relu'];
  expected.push('expanded_conv_depthwise', 'expanded_conv_depthwise_BN', 'expanded_conv_depthwise_relu', 'expanded_conv_project', 'expanded_conv_project_BN');
  for (let i = 1; i <= 16; i++) {
    const p = `block_${i}_`;
    expected.push(`${p}expand`, `${p}expand_BN`, `${p}expand_relu`, `${p}depthwise`, `${p}depthwise_BN`, `${p}depthwise_relu`, `${p}project`, `${p}project_BN`);
    if ([1, 3, 6, 13].includes(i)) expected.push(`${p}pad`); // stride 2
    if ([2, 4, 5, 7, 8, 9, 11, 12, 14, 15].includes(i)) expected.push(`${p}add`); // stride 1, same width
  }
  expected.push('Conv_1', 'Conv_1_bn', 'out_relu', 'global_average_pooling2d', 'predictions');
  sameNames(model, expected);
  const pad = model.getLayer('block_1_pad').getConfig()['padding'];
  assert.deepEqual(pad, [[0, 1], [0, 1]], 'correct_pad of an even 48x48 map');
  model.dispose();
});

function v3Names(rows: [number, number, number, boolean][], strides: number[], adds: number[], autos: string[]): string[] {
  const expected = ['input_layer', 'rescaling', 'conv', 'conv_bn', ...autos];
  rows.forEach(([, , , se], id) => {
    const p = id ? `expanded_conv_${id}_` : 'expanded_conv_';
    if (id) expected.push(`${p}expand`, `${p}expand_bn`);
    if (strides[id] === 2) expected.push(`${p}depthwise_pad`);
    expected.push(`${p}depthwise`, `${p}depthwise_bn`, `${p}project`, `${p}project_bn`);
    if (se) {
      for (const s of ['avg_pool', 'conv', 'relu', 'conv_1', 'hard_sigmoid', 'mul']) expected.push(`${p}squeeze_excite_${s}`);
    }
    if (adds.includes(id)) expected.push(`${p}add`);
  });
  expected.push('conv_1', 'conv_1_bn', 'global_average_pooling2d', 'conv_2', 'dropout', 'logits', 'flatten', 'predictions');
  return expected;
}

const range = (from: number, to: number, prefix: string) => Array.from({ length: to - from + 1 }, (_, i) => (from + i === 0 ? prefix : `${prefix}_${from + i}`));

test('MobileNetV3Small / Large: Keras layer names, automatic ones included', { skip: skipReason('MobileNetV3Small') }, () => {
  // Small: ReLU blocks 0-2 (block 0's gate reserves re_lu_1); hard_swish: stem, 2 per block 3-10, conv_1, conv_2.
  const small = mobileNetV3Small({ alpha: 0.75, inputSize: 96, classes: 10, seed: null });
  const smallAutos = ['re_lu', ...range(2, 5, 're_lu'), ...range(0, 18, 'activation')];
  sameNames(small, v3Names(V3_SMALL, [2, 2, 1, 2, 1, 1, 1, 1, 2, 1, 1], [2, 4, 5, 7, 9, 10], smallAutos));
  // Keras 3's functions, not tfjs's Keras 2 hardSigmoid (clip(0.2x + 0.5)).
  const x = tf.tensor1d([-4, -1, 0, 1, 4]);
  const gate = small.getLayer('expanded_conv_squeeze_excite_hard_sigmoid').apply(x) as tf.Tensor;
  const swish = small.getLayer('activation').apply(x) as tf.Tensor;
  const close = (t: tf.Tensor, want: number[]) => Array.from(t.dataSync()).every((v, i) => Math.abs(v - want[i]!) < 1e-6);
  assert.ok(close(gate, [0, 1 / 3, 0.5, 2 / 3, 1]), 'relu6(x + 3) / 6');
  assert.ok(close(swish, [-0, -1 / 3, 0, 2 / 3, 4]), 'x * relu6(x + 3) / 6');
  tf.dispose([x, gate, swish]);
  small.dispose();
  // Large: ReLU blocks 0-5 (the gates of blocks 3-5 reserve re_lu_7, _10, _13); hard_swish: stem, 2 per block 6-14, conv_1, conv_2.
  const large = mobileNetV3Large({ alpha: 0.75, inputSize: 96, classes: 10, seed: null });
  const largeAutos = [...range(0, 6, 're_lu'), 're_lu_8', 're_lu_9', 're_lu_11', 're_lu_12', ...range(0, 20, 'activation')];
  sameNames(large, v3Names(V3_LARGE, [1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1], [0, 2, 4, 5, 7, 8, 9, 11, 13, 14], largeAutos));
  large.dispose();
});

test('MobileNetV3Small minimalistic: ReLU only, no squeeze-excite, parameters as counted', () => {
  const model = mobileNetV3Small({ alpha: 1, inputSize: 96, classes: 10, minimalistic: true, seed: 3 });
  const rows = V3_SMALL.map(([t, f]) => [t, f, 3, false] as [number, number, number, boolean]);
  try {
    assert.equal(model.countParams(), mobileNetV3Params(rows, 1024, 1, 10));
    assert.ok(model.layers.every((l) => !l.name.includes('squeeze_excite') && !l.name.startsWith('activation')));
    const x = seededInput([2, 96, 96, 3], 4);
    const y = model.predict(x) as tf.Tensor;
    assert.ok(y.dataSync().every(Number.isFinite));
    tf.dispose([x, y]);
  } finally {
    model.dispose();
  }
});

test('EfficientNetB0: Keras layer names', { skip: skipReason('EfficientNetB0') }, () => {
  const model = efficientNetB0({ inputSize: 64, classes: 10, seed: null });
  const expected = ['input_layer', 'rescaling', 'normalization', 'stem_conv_pad', 'stem_conv', 'stem_bn', 'stem_activation'];
  B0_STAGES.forEach(([, repeats, fin0, fout, t], i) => {
    for (let j = 0; j < repeats; j++) {
      const p = `block${i + 1}${'abcd'[j]}_`;
      if (t !== 1) expected.push(`${p}expand_conv`, `${p}expand_bn`, `${p}expand_activation`);
      if (j === 0 && [1, 2, 3, 5].includes(i)) expected.push(`${p}dwconv_pad`);
      expected.push(`${p}dwconv`, `${p}bn`, `${p}activation`, `${p}se_squeeze`, `${p}se_reshape`, `${p}se_reduce`, `${p}se_expand`, `${p}se_excite`, `${p}project_conv`, `${p}project_bn`);
      if (j > 0 || fin0 === fout) expected.push(`${p}drop`, `${p}add`);
    }
  });
  expected.push('top_conv', 'top_bn', 'top_activation', 'avg_pool', 'top_dropout', 'predictions');
  sameNames(model, expected);
  model.dispose();
});

test('ResNet50: Keras layer names', () => {
  const model = resNet50({ inputSize: 64, classes: 10, seed: null });
  const expected = ['input_layer', 'conv1_pad', 'conv1_conv', 'conv1_bn', 'conv1_relu', 'pool1_pad', 'pool1_pool'];
  [3, 4, 6, 3].forEach((blocks, s) => {
    for (let b = 1; b <= blocks; b++) {
      const p = `conv${s + 2}_block${b}_`;
      if (b === 1) expected.push(`${p}0_conv`, `${p}0_bn`);
      for (const k of [1, 2]) expected.push(`${p}${k}_conv`, `${p}${k}_bn`, `${p}${k}_relu`);
      expected.push(`${p}3_conv`, `${p}3_bn`, `${p}add`, `${p}out`);
    }
  });
  expected.push('avg_pool', 'predictions');
  sameNames(model, expected);
  model.dispose();
});

test('DenseNet121: Keras layer names', () => {
  const model = denseNet121({ inputSize: 64, classes: 10, seed: null });
  const expected = ['input_layer', 'zero_padding2d', 'conv1_conv', 'conv1_bn', 'conv1_relu', 'zero_padding2d_1', 'pool1'];
  [6, 12, 24, 16].forEach((blocks, s) => {
    for (let b = 1; b <= blocks; b++) {
      const p = `conv${s + 2}_block${b}_`;
      expected.push(`${p}0_bn`, `${p}0_relu`, `${p}1_conv`, `${p}1_bn`, `${p}1_relu`, `${p}2_conv`, `${p}concat`);
    }
    if (s < 3) expected.push(`pool${s + 2}_bn`, `pool${s + 2}_relu`, `pool${s + 2}_conv`, `pool${s + 2}_pool`);
  });
  expected.push('bn', 'relu', 'avg_pool', 'predictions');
  sameNames(model, expected);
  model.dispose();
});

test('includeTop false with pooling: Keras pooling layer names and output shapes', () => {
  const m1 = mobileNetV2({ alpha: 0.35, inputSize: 96, includeTop: false, pooling: 'avg', seed: null });
  assert.equal(m1.layers[m1.layers.length - 1]!.name, 'global_average_pooling2d');
  assert.deepEqual(m1.outputs[0]!.shape, [null, 1280]);
  const m2 = resNet50({ inputSize: 64, includeTop: false, pooling: 'max', seed: null });
  assert.equal(m2.layers[m2.layers.length - 1]!.name, 'max_pool');
  assert.deepEqual(m2.outputs[0]!.shape, [null, 2048]);
  const m3 = denseNet121({ inputSize: 64, includeTop: false, seed: null });
  assert.deepEqual(m3.outputs[0]!.shape, [null, 2, 2, 1024]);
  for (const m of [m1, m2, m3]) m.dispose();
});

// ---------------------------------------------------------------------------
// Seeded weights.

function weightsOf(model: tf.LayersModel): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const layer of model.layers) layer.weights.forEach((w) => out.set(`${layer.name}/${w.originalName.split('/').pop()}`, w.read().dataSync() as Float32Array));
  return out;
}

test('seeded weights: the same seed gives the same weights, another seed others, and the top does not change the backbone', () => {
  const a = weightsOf(mobileNetV2({ alpha: 0.35, inputSize: 96, classes: 10, seed: 11 }));
  const b = weightsOf(mobileNetV2({ alpha: 0.35, inputSize: 96, classes: 10, seed: 11 }));
  const c = weightsOf(mobileNetV2({ alpha: 0.35, inputSize: 96, classes: 10, seed: 12 }));
  const headless = weightsOf(mobileNetV2({ alpha: 0.35, inputSize: 96, includeTop: false, seed: 11 }));
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [k, v] of a) assert.deepEqual(b.get(k), v, k);
  assert.notDeepEqual(c.get('Conv1/kernel'), a.get('Conv1/kernel'));
  for (const [k, v] of headless) assert.deepEqual(a.get(k), v, `${k} with and without the top`);
  // Calibrated BatchNorm: moving statistics come from data, not the defaults.
  const variance = a.get('block_5_project_BN/moving_variance')!;
  assert.ok(variance.some((v) => Math.abs(v - 1) > 1e-3));
});

// ---------------------------------------------------------------------------
// Nestings.

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

function denseWeights(layer: tf.layers.Layer): { kernel: tf.Tensor; bias: tf.Tensor | null } {
  const [kernel, bias] = layer.getWeights();
  return { kernel: kernel!, bias: bias ?? null };
}

test('transferLearning: Sequential([base, GlobalAveragePooling2D, Dense softmax]) predicts as the base plus the head by hand', () => {
  const base = mobileNetV2({ alpha: 0.35, inputSize: 96, includeTop: false, seed: 5 });
  const model = transferLearning(base, 5, { seed: 6 });
  const x = seededInput([3, 96, 96, 3], 9);
  try {
    assert.deepEqual(model.layers.map((l) => l.name), ['mobilenetv2_0.35_96', 'global_average_pooling2d', 'dense']);
    assert.deepEqual(model.outputs[0]!.shape, [null, 5]);
    assert.equal(model.countParams(), base.countParams() + 1280 * 5 + 5);
    const dense = denseWeights(model.getLayer('dense'));
    const byHand = tf.tidy(() => {
      const pooled = tf.mean(base.predict(x) as tf.Tensor, [1, 2]);
      return tf.softmax(tf.add(tf.matMul(pooled as tf.Tensor2D, dense.kernel as tf.Tensor2D), dense.bias!));
    });
    const y = model.predict(x) as tf.Tensor;
    assert.ok(maxAbsDiff(y, byHand) < 1e-5);
    tf.dispose([y, byHand]);
  } finally {
    x.dispose();
    model.dispose();
  }
});

function teachableByHand(features: tf.Tensor, model: tf.Sequential): tf.Tensor {
  const head = model.getLayer('sequential_3') as tf.Sequential;
  const hidden = denseWeights(head.getLayer('dense_Dense1'));
  const out = denseWeights(head.getLayer('dense_Dense2'));
  return tf.tidy(() => {
    const h = tf.relu(tf.add(tf.matMul(features as tf.Tensor2D, hidden.kernel as tf.Tensor2D), hidden.bias!));
    return tf.softmax(tf.matMul(h, out.kernel as tf.Tensor2D));
  });
}

test('teachableMachine (MobileNetV2 0.35): sequential_4 [sequential_1 [model1, pooling], sequential_3 [dense_Dense1, dense_Dense2]]', async () => {
  const base = mobileNetV2({ alpha: 0.35, inputSize: 96, includeTop: false, seed: 5 });
  const model = teachableMachine(base, 3, { seed: 2 });
  const x = seededInput([3, 96, 96, 3], 10);
  try {
    assert.equal(model.name, 'sequential_4');
    assert.deepEqual(model.layers.map((l) => l.name), ['sequential_1', 'sequential_3']);
    const features = model.getLayer('sequential_1') as tf.Sequential;
    assert.deepEqual(features.layers.map((l) => l.name), ['model1', 'global_average_pooling2d_GlobalAveragePooling2D1']);
    const truncated = features.getLayer('model1') as tf.LayersModel;
    assert.equal(truncated.outputs[0]!.sourceLayer.name, 'out_relu');
    const head = model.getLayer('sequential_3') as tf.Sequential;
    assert.deepEqual(head.layers.map((l) => l.name), ['dense_Dense1', 'dense_Dense2']);
    assert.equal(head.getLayer('dense_Dense1').getConfig()['units'], 100);
    assert.equal(head.getLayer('dense_Dense2').getConfig()['useBias'], false);
    assert.equal(model.countParams(), base.countParams() + 1280 * 100 + 100 + 100 * 3);

    const byHand = tf.tidy(() => teachableByHand(tf.mean(base.predict(x) as tf.Tensor, [1, 2]), model));
    const y = model.predict(x) as tf.Tensor;
    assert.ok(maxAbsDiff(y, byHand) < 1e-5);

    // It round-trips through its model.json topology like an exported Teachable Machine model.
    const copy = await reloaded(model);
    assert.deepEqual(copy.layers.map((l) => l.name), ['sequential_1', 'sequential_3']);
    const y2 = copy.predict(x) as tf.Tensor;
    assert.ok(maxAbsDiff(y, y2) < 1e-6);
    tf.dispose([y, y2, byHand]);
    copy.dispose();
  } finally {
    x.dispose();
    model.dispose();
  }
});

/** The model rebuilt from its own model.json topology, with its weights copied. */
async function reloaded(model: tf.LayersModel): Promise<tf.LayersModel> {
  const topology = JSON.parse(JSON.stringify(model.toJSON(null, false))) as tf.io.ModelJSON['modelTopology'];
  const copy = await tf.models.modelFromJSON({ modelTopology: topology } as tf.io.ModelJSON);
  copy.setWeights(model.getWeights());
  return copy;
}

test('teachableMachine (MobileNet v1 0.25): truncated at conv_pw_13_relu and flattened', () => {
  const base = mobileNet({ alpha: 0.25, inputSize: 96, includeTop: false, seed: 5 });
  const model = teachableMachine(base, 4, { seed: 2 });
  const x = seededInput([2, 96, 96, 3], 10);
  try {
    const features = model.getLayer('sequential_1') as tf.Sequential;
    assert.deepEqual(features.layers.map((l) => l.name), ['model1', 'flatten_Flatten1']);
    assert.equal((features.getLayer('model1') as tf.LayersModel).outputs[0]!.sourceLayer.name, 'conv_pw_13_relu');
    assert.equal(model.countParams(), base.countParams() + 3 * 3 * 256 * 100 + 100 + 100 * 4);
    const byHand = tf.tidy(() => teachableByHand(tf.reshape(base.predict(x) as tf.Tensor, [2, -1]), model));
    const y = model.predict(x) as tf.Tensor;
    assert.ok(maxAbsDiff(y, byHand) < 1e-5);
    tf.dispose([y, byHand]);
  } finally {
    x.dispose();
    model.dispose();
  }
});
