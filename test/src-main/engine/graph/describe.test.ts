/**
 * Model descriptions say what the models are: the widths in the text are the
 * layers' output channels in order, the layer count is the table's rows
 * minus the input, the parameter count is the table's sum. Checked for every
 * built-in and for the bundled sample as a fresh studio stores it (and as an
 * older build's wrong text is corrected on the next start).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import type { LayerSummary } from '../../../../src-main/api/contract.js';
import { describeArchitecture, CHAIN_MAX } from '../../../../src-main/engine/graph/describe.js';
import { summarizeGraph } from '../../../../src-main/engine/graph/summary.js';
import { builtinDescription, builtinModels } from '../../../../src-main/io/models/builtins.js';
import { openStudio } from '../../../../src-main/studio.js';
import { tempDir } from '../../../helpers/temp.js';

/** What a description claims: the widths of its Conv2D / Dense layers in order, the layer and parameter counts. */
function claims(text: string): { widths: number[]; layers: number; params: number } {
  const widths = [...text.matchAll(/(?:Conv2D|Dense)\((\d+)/g)].map((m) => Number(m[1]));
  const counts = /(\d+) layers after the input, ([\d,]+) parameters/.exec(text);
  assert.ok(counts, `no counts in: ${text}`);
  return { widths, layers: Number(counts[1]), params: Number(counts[2]!.replace(/,/g, '')) };
}

function truth(layers: LayerSummary[]): { widths: number[]; layers: number; params: number } {
  return {
    widths: layers.filter((l) => l.op === 'conv2d' || l.op === 'dense').map((l) => l.outputShape.at(-1)!),
    layers: layers.length - 1,
    params: layers.reduce((s, l) => s + l.params, 0),
  };
}

test('each built-in: the catalog text names its layers in order with their widths, and its counts', () => {
  for (const entry of builtinModels) {
    const summary = summarizeGraph(entry.build());
    const text = builtinDescription(entry);
    const t = truth(summary.layers);
    const c = claims(text);
    assert.equal(c.layers, summary.layerCount, entry.name);
    assert.equal(c.params, summary.paramCount, entry.name);
    assert.deepEqual(c, summary.layers.length - 1 <= CHAIN_MAX ? t : { ...t, widths: [] }, `${entry.name}: ${text}`);
  }
  // fashion_cnn by hand: 32 and 64 filters, Dense 128 then 10; 3·3·1·32+32 + 4·32 + 3·3·32·64+64 + 4·64 + 3136·128+128 + 128·10+10 = 422,026.
  const cnn = claims(builtinDescription(builtinModels.find((m) => m.name === 'fashion_cnn')!));
  assert.deepEqual(cnn, { widths: [32, 64, 128, 10], layers: 11, params: 320 + 128 + 18496 + 256 + 401536 + 1290 });
});

test('a long model is counted by class, the counts adding up to its layers', () => {
  const dw = builtinModels.find((m) => m.name === 'fashion_dwsep')!;
  const layers = summarizeGraph(dw.build()).layers;
  const text = describeArchitecture(layers);
  const sum = [...text.matchAll(/×(\d+)/g)].reduce((s, m) => s + Number(m[1]), 0);
  assert.equal(sum, layers.length - 1, text);
  assert.match(text, /DepthwiseConv2D ×3/);
});

test('the bundled sample as stored: its description agrees with its layer table; a wrong older text is corrected on the next start', async () => {
  const db = path.join(tempDir(), 'studio.sqlite');
  let studio = await openStudio({ dbPath: db, host: 'cli', backend: 'cpu' });
  try {
    const sample = studio.store.models.list().find((m) => m.name === 'fashion_cnn_sample')!;
    const detail = studio.store.models.getDetail(sample.id)!;
    assert.deepEqual(claims(sample.description), truth(detail.layers));
    assert.deepEqual(claims(sample.description).widths, [32, 64, 128, 10]);
    assert.equal(detail.layers.length, sample.layerCount + 1, 'the table lists the input and the counted layers');
    studio.store.models.setDescription(sample.id, 'Fashion-MNIST CNN (conv8-BN-ReLU-pool, conv16-BN-ReLU-pool, dense32, dense10), trained on the bundled sample');
  } finally {
    await studio.close();
  }
  studio = await openStudio({ dbPath: db, host: 'cli', backend: 'cpu' });
  try {
    const sample = studio.store.models.list().find((m) => m.name === 'fashion_cnn_sample')!;
    assert.deepEqual(claims(sample.description).widths, [32, 64, 128, 10]);
    assert.doesNotMatch(sample.description, /conv8|dense32/);
  } finally {
    await studio.close();
  }
});
