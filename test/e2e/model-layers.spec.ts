// The Model view on a keras.applications model, through the web host on a
// temporary database: a MobileNetV3Small (alpha 0.75, 32×32, seeded) nested
// as Keras transfer learning nests it, written as a TF.js model.json by the
// studio's writer and imported through the Import panel's path field. Its
// layer list names the keras.applications layer kinds (Rescaling with its
// scale and offset, ZeroPadding2D with its padding, GlobalAveragePooling2D
// keepdims, Multiply, hard_swish Activations) and says how each is quantized
// as the plan gives it: the preprocessing before the input quantizer, own
// ranges (hard swish, Multiply, convolutions), shared ranges (padding, the
// squeeze-and-excite pool), fused ReLUs, folded BatchNormalizations. Explain
// on a layer answers with its note and the variables holding its range, and
// follows the config controls. Screenshot: test-results/screenshots/model-layers.png.
import { expect, test, type Locator, type Page } from '@playwright/test';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mobileNetV3Small, transferLearning } from '../../dist/test/helpers/applications/index.js';
import { writeLayersModelFiles } from '../../dist/src-main/io/models/tfjs-layers.js';
import { readModelFile } from '../../dist/src-main/io/models/registry.js';
import { RunConfig } from '../../dist/src-main/api/run-config.js';
import { explainVariables } from '../../dist/src-main/engine/qat/variables.js';
import { artifactsDir, startStudioHost, type RunningHost } from './studio-host.js';

const NAME = 'MobileNetV3Small transfer';

interface Layer {
  name: string;
  op: string;
  activation?: string;
  keepdims?: boolean;
  kerasClass?: string;
}
interface Quant {
  layer: string;
  kind: string;
  range: string | null;
  kernel: string | null;
  note: string;
}

let host: RunningHost;
let work: string;
let modelJson: string;
/** The imported graph's layers and the engine's own answer for the view's default config (per-channel weights). */
let layers: Layer[];
let quant: Map<string, Quant>;

test.beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'studio-e2e-layers-'));
  // The web host imports by path only inside the folders it was started with (and its uploads folder).
  host = await startStudioHost(['--import-dir', work]);
  const base = mobileNetV3Small({ alpha: 0.75, inputSize: 32, includeTop: false, seed: 0 });
  const model = transferLearning(base, 10);
  [modelJson] = await writeLayersModelFiles(model, path.join(work, 'mobilenetv3'));
  model.dispose();
  const { graph } = await readModelFile(modelJson);
  layers = graph.nodes as Layer[];
  const config = RunConfig.parse({ modelId: 1, datasetId: 1, weights: { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' } });
  quant = new Map((explainVariables(graph, config).studio.layers as Quant[]).map((q) => [q.layer, q]));
});

test.afterAll(async () => {
  await host?.stop();
  rmSync(work, { recursive: true, force: true });
});

const first = (pred: (l: Layer) => boolean, what: string): Layer => {
  const l = layers.find(pred);
  if (!l) throw new Error(`the model has no ${what}`);
  return l;
};

function row(page: Page, layer: string): Locator {
  return page.locator(`[data-testid="layer-row"][data-layer="${layer}"]`);
}

/** The row names the Keras class (and options), and its Quantization cell has the plan's kind and range. */
async function expectRow(page: Page, layer: string, className: string, kind: string, options?: string | RegExp): Promise<void> {
  const r = row(page, layer);
  await expect(r.locator('span.op')).toHaveText(className);
  if (options !== undefined) await expect(r.getByTestId('layer-options')).toHaveText(options);
  const cell = r.getByTestId('layer-quant');
  await expect(cell).toHaveAttribute('data-kind', kind);
  const q = quant.get(layer);
  expect(q?.kind, `the engine's plan for ${layer}`).toBe(kind);
  await expect(cell).toHaveAttribute('data-range', q!.range ?? '');
  await expect(cell).toHaveAttribute('title', q!.kernel ? `${q!.note} Kernel ${q!.kernel}.` : q!.note);
}

test('a MobileNetV3Small: its layer kinds listed with their quantization, explain on a layer answers', async ({ page }) => {
  await page.goto(host.openUrl);
  await page.getByTestId('nav-model').click();
  const panel = page.getByTestId('import-panel');
  await panel.getByTestId('import-model-path').fill(modelJson);
  await panel.getByTestId('import-mode-reference').check();
  await panel.getByTestId('import-model-name').fill(NAME);
  await panel.getByTestId('import-model-submit').click();
  await expect(panel.getByTestId('import-outcome')).toHaveAttribute('data-existed', 'false');
  await expect(page.getByTestId('model-detail-name')).toHaveText(NAME);
  await expect(page.getByTestId('layer-row')).toHaveCount(layers.length);
  // Every layer gets its line once the explanation has loaded.
  await expect(page.getByTestId('layer-quant')).toHaveCount(layers.length);

  const rescaling = first((l) => l.op === 'affine', 'Rescaling');
  const pad = first((l) => l.op === 'zeroPad2d', 'ZeroPadding2D');
  const hardSwish = first((l) => l.op === 'activation' && l.activation === 'hard_swish', 'hard_swish Activation');
  const pool = first((l) => l.op === 'globalAvgPool2d' && l.keepdims === true, 'GlobalAveragePooling2D keepdims');
  const mul = first((l) => l.op === 'multiply', 'Multiply');
  const bn = first((l) => l.op === 'batchNorm', 'BatchNormalization');
  const fusedRelu = first((l) => l.op === 'activation' && l.activation === 'relu' && quant.get(l.name)?.kind === 'fused', 'ReLU fused into a conv');
  // Nested as transfer learning: the base's layers carry its name.
  expect(pad.name).toContain('/');

  await expectRow(page, rescaling.name, 'Rescaling', 'preprocessing', /^scale 0\.00784314, offset -1$/);
  await expectRow(page, pad.name, 'ZeroPadding2D', 'shared-range', /^padding \(\(\d, \d\), \(\d, \d\)\)$/);
  await expectRow(page, hardSwish.name, 'Activation', 'own-range');
  await expect(row(page, hardSwish.name)).toContainText('+ hard_swish');
  await expectRow(page, pool.name, 'GlobalAveragePooling2D', 'shared-range', 'keepdims');
  await expectRow(page, mul.name, 'Multiply', 'own-range');
  await expectRow(page, bn.name, 'BatchNormalization', 'folded');
  await expectRow(page, fusedRelu.name, 'Activation', 'fused');
  await expect(row(page, pad.name).getByTestId('layer-quant')).toHaveText('shares range');
  await expect(row(page, mul.name).getByTestId('layer-quant')).toHaveText('own range');

  // Explain the padding: it shares the range of the hard swish before it, whose variables hold it.
  const explain = page.getByTestId('layer-explain');
  await row(page, pad.name).getByTestId('layer-explain-button').click();
  await expect(explain).toHaveAttribute('data-layer', pad.name);
  await expect(explain.getByTestId('layer-explain-note')).toHaveAttribute('data-kind', 'shared-range');
  await expect(explain.getByTestId('layer-explain-note')).toContainText("TFLite's PAD keeps the input's scale and zero point");
  const padRange = quant.get(pad.name)!.range!;
  await expect(explain).toContainText(`its output carries the range held by ${quant.get(pad.name)!.range!.replace(/\/output$/, '')}`);
  await expect(explain.getByTestId('layer-explain-studio').locator('li')).toHaveText([new RegExp(`^${padRange}/min scalar`), new RegExp(`^${padRange}/max scalar`)]);
  await expect(explain.getByTestId('layer-explain-keras')).toContainText('No variable');

  // The Multiply has a range of its own.
  await row(page, mul.name).getByTestId('layer-explain-button').click();
  await expect(explain).toHaveAttribute('data-layer', mul.name);
  await expect(explain.getByTestId('layer-explain-note')).toContainText("Multiply (TFLite's MUL)");
  await expect(explain.getByTestId('layer-explain-studio').locator('li')).toHaveText([new RegExp(`^${mul.name}/output/min scalar`), new RegExp(`^${mul.name}/output/max scalar`)]);

  // A conv: its kernel quantizer follows the controls (per-channel by default, then per-tensor).
  const conv = first((l) => l.op === 'conv2d' && quant.get(l.name)?.kind === 'own-range', 'Conv2D');
  await row(page, conv.name).getByTestId('layer-explain-button').click();
  await expect(explain.getByTestId('layer-explain-kernel')).toContainText(/per-channel \(\d+ scales/);
  await expect(explain.getByTestId('layer-explain-keras')).toContainText('kernel_min');
  await page.screenshot({ path: path.join(artifactsDir, 'model-layers.png'), fullPage: true });
  await page.getByTestId('explain-weight-granularity').selectOption('per-tensor');
  await expect(explain.getByTestId('layer-explain-kernel')).toContainText('per-tensor (one scale)');

  // Close.
  await explain.getByRole('button', { name: 'Close' }).click();
  await expect(explain).toHaveCount(0);
});
