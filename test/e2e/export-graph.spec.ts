// The Export view's file graph through the web host, on a MobileNetV2 (alpha
// 0.35, 32 px, Keras's 155 layers) nested as transfer learning nests it,
// calibrated per channel on real Fashion-MNIST images (padded to 32×32×3)
// with the studio's CLI, which also writes its TFLite file; the ONNX file is
// exported from the Export view. The ONNX graph shows the nodes the writer
// emitted (each layer's QuantizeLinear / DequantizeLinear pair and Conv in one
// group, the base model as an outer group); a kernel's DequantizeLinear opens
// with its int8 per-channel initializer (as many scales as the layer has
// output channels, the count the database holds); "Show source layer" opens
// the Model view's graph at that layer. The TFLite graph shows ReLU6 fused
// into the expansion convolutions. A DenseNet121 (width 0.25, 32 px: 427
// layers, 1225 ONNX nodes) starts with its layers collapsed, with a note, and
// the page answers while it lays out. Screenshots: test-results/screenshots/export-graph-*.png.
import { expect, test, type Page } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { queryAll } from '../../dist/test/helpers/sqlite.js';
import { denseNet121, transferLearning } from '../../dist/test/helpers/applications/index.js';
import { writeLayersModelFiles } from '../../dist/src-main/io/models/tfjs-layers.js';
import { FASHION_MNIST, writeFashionMnist32, writeMobileNetV2 } from './graph-fixtures.js';
import { artifactsDir, root, startStudioHost, type RunningHost } from './studio-host.js';

let host: RunningHost;
let work: string;
let dbPath: string;
let exportDir: string;
let runId: number;
let denseRunId: number;

function studio(...args: string[]): string {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'studio.js'), '--db', dbPath, ...args], { cwd: root, encoding: 'utf8', timeout: 240_000 });
  if (r.status !== 0) throw new Error(`studio ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

test.beforeAll(async () => {
  test.setTimeout(600_000);
  test.skip(!existsSync(FASHION_MNIST), `Fashion-MNIST is not installed (${FASHION_MNIST}; apt-get install dataset-fashion-mnist)`);
  work = mkdtempSync(path.join(os.tmpdir(), 'studio-e2e-export-graph-'));
  dbPath = path.join(work, 'studio.sqlite');
  exportDir = path.join(work, 'exports');
  mkdirSync(exportDir);
  const modelJson = await writeMobileNetV2(path.join(work, 'mobilenetv2'));
  const data = writeFashionMnist32(path.join(work, 'fashion32'), 200);
  const model = (JSON.parse(studio('import-model', modelJson, '--reference', '--name', 'MobileNetV2 transfer', '--json')) as { id: number }).id;
  studio('import-data', data, '--name', 'fashion32', '--scale', '1/255', '--mean', '0.5', '--std', '0.5');
  runId = (JSON.parse(studio('calibrate', '--model', String(model), '--data', 'fashion32', '--weights', 'per-channel', '--calib', '64', '--eval', '64', '--json')) as { id: number }).id;
  studio('export', String(runId), '--format', 'tflite', '--out', path.join(exportDir, 'mnv2.tflite'), '--no-verify');
  // DenseNet121 as transfer learning nests it, written by the studio's CLI as ONNX.
  const dense = transferLearning(denseNet121({ width: 0.25, inputSize: 32, includeTop: false, seed: 0 }), 10);
  const [denseJson] = await writeLayersModelFiles(dense, path.join(work, 'densenet121'));
  dense.dispose();
  const denseModel = (JSON.parse(studio('import-model', denseJson!, '--reference', '--name', 'DenseNet121 transfer', '--json')) as { id: number }).id;
  denseRunId = (JSON.parse(studio('calibrate', '--model', String(denseModel), '--data', 'fashion32', '--weights', 'per-channel', '--calib', '64', '--eval', '64', '--json')) as { id: number }).id;
  studio('export', String(denseRunId), '--format', 'onnx', '--out', path.join(exportDir, 'densenet.onnx'), '--no-verify');
  host = await startStudioHost(['--import-dir', work, '--export-dir', exportDir], { dbPath });
});

test.afterAll(async () => {
  await host?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const fileNode = (page: Page, id: string) => page.getByTestId('file-graph').locator(`[data-testid="graph-node"][data-node="${id}"]`);

test('an exported MobileNetV2 as its files hold it: QDQ groups per layer, a kernel’s stored quantization, the link to the source layer', async ({ page }) => {
  test.setTimeout(300_000);
  await page.goto(host.openUrl);
  await page.getByTestId('nav-export').click();
  await page.getByTestId('export-run').selectOption(String(runId));
  await expect(page.getByTestId('export-history-row')).toHaveCount(1);
  await page.getByTestId('export-name').fill('mnv2');
  await page.getByTestId('export-start').click();
  await expect(page.getByTestId('export-job').first()).toHaveAttribute('data-status', 'done', { timeout: 120_000 });
  const rows = page.getByTestId('export-history-row');
  await expect(rows).toHaveCount(2);

  // The ONNX file: every node the writer emitted, in one group per Keras layer.
  await rows.filter({ hasText: 'mnv2.onnx' }).getByTestId('export-graph-button').click();
  const graph = page.getByTestId('file-graph');
  await expect(graph).toHaveAttribute('data-format', 'onnx');
  await expect(graph).not.toHaveAttribute('data-painted', '0', { timeout: 30_000 });
  const project = (await graph.locator('[data-testid="graph-node"][data-node$="/block_1_project"]').getAttribute('data-node'))!;
  const base = project.slice(0, project.lastIndexOf('/'));
  const group = graph.locator(`[data-testid="graph-group"][data-group="layer:${project}"]`);
  await expect(group).toHaveCount(1);
  await expect(graph.locator(`[data-testid="graph-group"][data-group="layer:${base}"]`)).toHaveCount(1);
  // The layer's QDQ output pair and its Conv: the Conv feeds the QuantizeLinear, which feeds its DequantizeLinear.
  await expect(fileNode(page, project)).toContainText('Conv');
  await expect(graph.locator(`[data-testid="graph-edge"][data-source="${project}/output/QuantizeLinear"][data-target="${project}/output/DequantizeLinear"]`)).toHaveCount(1);
  await expect(graph.locator(`[data-testid="graph-edge"][data-source="${project}/kernel/DequantizeLinear"][data-target="${project}"]`)).toHaveCount(1);

  // The kernel's DequantizeLinear: its initializer is int8 with one scale per output channel, the scales the run stored.
  const stored = queryAll<{ channels: number; scale: Buffer }>(
    dbPath,
    `SELECT t.channels, c.scale FROM run_tensors t JOIN run_channels c ON c.tensor_id = t.id WHERE t.run_id = ? AND t.layer = ? AND t.role = 'weight'`,
    runId,
    project,
  )[0]!;
  const scales = new Float32Array(stored.scale.buffer.slice(stored.scale.byteOffset, stored.scale.byteOffset + stored.scale.byteLength));
  expect(stored.channels).toBeGreaterThan(1);
  expect(scales.length).toBe(stored.channels);
  await page.getByTestId('file-graph-search').fill(`${project}/kernel/Deq`);
  await page.getByTestId('file-graph-search').press('Enter');
  const dq = fileNode(page, `${project}/kernel/DequantizeLinear`);
  await expect(dq).toHaveAttribute('data-selected', 'true');
  await dq.click();
  const details = page.getByTestId('file-details');
  await expect(details).toHaveAttribute('data-node', `${project}/kernel/DequantizeLinear`);
  await expect(details.getByTestId('file-details-layer')).toHaveText(project);
  const kernel = details.locator(`[data-testid="file-details-inputs"] tr:not(.quant)[data-tensor="${project}/kernel/quantized"]`);
  await expect(kernel).toContainText('kernel/quantized (const)');
  await expect(kernel).toContainText('int8');
  const quant = details.locator(`[data-testid="file-details-inputs"] tr.quant[data-tensor="${project}/kernel/quantized"]`);
  await expect(quant).toContainText(`${stored.channels} ch (axis 0) · scale`);
  await expect(quant).toHaveAttribute('data-channels', String(stored.channels));
  await expect(quant).toHaveAttribute('data-scale-min', String(Math.min(...scales)));
  await expect(quant).toHaveAttribute('data-scale-max', String(Math.max(...scales)));
  await page.screenshot({ path: path.join(artifactsDir, 'export-graph-onnx.png') });

  // Its sibling, the layer's output QuantizeLinear: one scale, the run's activation scale (as float32).
  const activation = queryAll<{ scale: number }>(dbPath, `SELECT scale FROM run_tensors WHERE run_id = ? AND layer = ? AND role = 'activation'`, runId, project)[0]!;
  await details.getByTestId('file-details-siblings').getByRole('button', { name: 'output/QuantizeLinear' }).click();
  await expect(details).toHaveAttribute('data-node', `${project}/output/QuantizeLinear`);
  const out = details.locator(`[data-testid="file-details-outputs"] tr.quant`);
  await expect(out).toHaveAttribute('data-channels', '1');
  await expect(out).toHaveAttribute('data-scale-min', String(Math.fround(activation.scale)));
  await expect(details.locator('[data-testid="file-details-outputs"] tbody tr:not(.quant)')).toContainText('uint8');

  // The layer's group collapses into one box and opens again.
  await group.locator('.group-title').click();
  await expect(graph.locator(`[data-testid="graph-group-node"][data-node="layer:${project}"]`)).toContainText('5 nodes');
  await graph.locator(`[data-testid="graph-group-node"][data-node="layer:${project}"]`).click();
  await expect(fileNode(page, project)).toHaveCount(1);
  // The group picked is the toolbar's layer too, with its own link to the source.
  await expect(page.getByTestId('file-graph-layer')).toHaveText(`layer ${project}`);
  await expect(page.getByTestId('file-graph-source')).toBeVisible();

  // Show source layer: the Model view's graph at that layer, selected and opened.
  await details.getByTestId('file-details-source').click();
  await expect(page.getByTestId('view-model')).toBeVisible();
  const panel = page.getByTestId('graph-panel');
  await expect(panel).not.toHaveAttribute('data-painted', '0', { timeout: 30_000 });
  await expect(panel.locator(`[data-testid="graph-node"][data-node="${project}"]`)).toHaveAttribute('data-selected', 'true');
  await expect(page.getByTestId('graph-details')).toHaveAttribute('data-layer', project);
  await expect(panel).toBeInViewport();
  await page.screenshot({ path: path.join(artifactsDir, 'export-graph-source.png') });

  // The TFLite file: the activations as the converter writes them, fused into the convolutions.
  await page.getByTestId('nav-export').click();
  await rows.filter({ hasText: 'mnv2.tflite' }).getByTestId('export-graph-button').click();
  await expect(graph).toHaveAttribute('data-format', 'tflite');
  await expect(graph).not.toHaveAttribute('data-painted', '0', { timeout: 30_000 });
  await expect(fileNode(page, `${base}/block_1_expand/output`)).toContainText('CONV_2D + relu6');
  await expect(fileNode(page, `${project}/output`)).toContainText('CONV_2D');
  await expect(fileNode(page, `${project}/output`)).not.toContainText('relu');
  await page.screenshot({ path: path.join(artifactsDir, 'export-graph-tflite.png') });
});

test('a DenseNet121 file (1225 ONNX nodes) starts collapsed with a note, lays out off the page’s thread, and opens its base model', async ({ page }) => {
  test.setTimeout(180_000);
  await page.goto(host.openUrl);
  await page.getByTestId('nav-export').click();
  await page.getByTestId('export-run').selectOption(String(denseRunId));
  const row = page.getByTestId('export-history-row').filter({ hasText: 'densenet.onnx' });
  await row.getByTestId('export-graph-button').click();
  const graph = page.getByTestId('file-graph');
  await expect(graph).not.toHaveAttribute('data-painted', '0', { timeout: 30_000 });
  const nodes = (await graph.getAttribute('data-nodes'))!;
  await expect(page.getByTestId('file-graph-note')).toContainText('nodes are more than the 400');
  const base = graph.locator('[data-testid="graph-group-node"][data-node^="layer:densenet121"]');
  await expect(base).toHaveCount(1);
  expect(Number(nodes)).toBeLessThan(10);

  // Open the base: its ~370 layers as collapsed boxes. While ELK lays them out in its worker, the page answers at once.
  await base.click();
  await expect(graph).toHaveAttribute('data-laying', 'true');
  const t0 = Date.now();
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(resolve)));
  expect(Date.now() - t0, 'a frame is painted during the layout').toBeLessThan(1000);
  await expect(graph).toHaveAttribute('data-laying', 'false', { timeout: 30_000 });
  expect(Number(await graph.getAttribute('data-nodes'))).toBeGreaterThan(300);
  await expect(graph.locator('[data-testid="graph-group-node"][data-node$="/conv2_block1_1_conv"]')).toHaveCount(1);
  await page.screenshot({ path: path.join(artifactsDir, 'export-graph-densenet.png') });
});
