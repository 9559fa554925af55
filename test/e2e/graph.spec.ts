// The graph view through the web host, on a MobileNetV2 (alpha 0.35, 32 px:
// Keras's layers and connections, 10 residual blocks) nested as transfer
// learning nests it, written as TF.js files, with a per-tensor and a
// per-channel PTQ run on real Fashion-MNIST images (padded to 32×32×3),
// both made with the studio's CLI on the database the host then serves.
// Model view: the graph lays out with the BatchNorms folded into their
// convolutions and the base model as a group; the weight-SQNR difference
// overlay colours each conv by per-channel minus per-tensor, the numbers the
// database holds; a click opens a node's details (tensors of both runs,
// per-channel bars, histogram); search finds block_1_project, the keyboard
// follows its residual edge to block_2_add and Enter opens it; the group
// collapses and opens. Compare: the same graph under the compared runs, and
// the culprit action re-runs with the layer kept float. Screenshots:
// test-results/screenshots/graph-*.png.
import { expect, test, type Page } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { queryAll } from '../../dist/test/helpers/sqlite.js';
import { FASHION_MNIST, writeFashionMnist32, writeMobileNetV2 } from './graph-fixtures.js';
import { artifactsDir, root, startStudioHost, type RunningHost } from './studio-host.js';

let host: RunningHost;
let dbPath: string;
let runIds: { perTensor: number; perChannel: number };

function studio(...args: string[]): string {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'studio.js'), '--db', dbPath, ...args], { cwd: root, encoding: 'utf8', timeout: 240_000 });
  if (r.status !== 0) throw new Error(`studio ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

test.beforeAll(async () => {
  test.setTimeout(600_000);
  test.skip(!existsSync(FASHION_MNIST), `Fashion-MNIST is not installed (${FASHION_MNIST}; apt-get install dataset-fashion-mnist)`);
  const work = mkdtempSync(path.join(os.tmpdir(), 'studio-e2e-graph-'));
  dbPath = path.join(work, 'studio.sqlite');
  const modelJson = await writeMobileNetV2(path.join(work, 'mobilenetv2'));
  const data = writeFashionMnist32(path.join(work, 'fashion32'), 200);
  const model = (JSON.parse(studio('import-model', modelJson, '--reference', '--name', 'MobileNetV2 transfer', '--json')) as { id: number }).id;
  studio('import-data', data, '--name', 'fashion32', '--scale', '1/255', '--mean', '0.5', '--std', '0.5');
  const run = (granularity: string) => (JSON.parse(studio('calibrate', '--model', String(model), '--data', 'fashion32', '--weights', granularity, '--calib', '64', '--eval', '64', '--json')) as { id: number }).id;
  runIds = { perTensor: run('per-tensor'), perChannel: run('per-channel') };
  host = await startStudioHost(['--import-dir', work], { dbPath });
});

test.afterAll(async () => {
  await host?.stop();
  // The work folder: the database, the model and the data.
  if (dbPath) rmSync(path.dirname(dbPath), { recursive: true, force: true });
});

const node = (page: Page, id: string) => page.locator(`[data-testid="graph-node"][data-node="${id}"]`);
const selectedNode = (page: Page) => page.locator('[data-testid="graph-node"][data-selected="true"]');

interface Row {
  layer: string;
  run_id: number;
  sqnr: number | null;
}

test('a MobileNetV2 as a graph: folds, overlay, details, search, keyboard along a residual edge, groups; then in Compare', async ({ page }) => {
  test.setTimeout(300_000);
  const weights = queryAll<Row>(dbPath, `SELECT layer, run_id, sqnr FROM run_tensors WHERE role = 'weight'`);
  await page.goto(host.openUrl);
  await page.getByTestId('nav-model').click();
  await page.getByTestId('model-item').filter({ hasText: 'MobileNetV2 transfer' }).click();
  await page.getByTestId('model-view-graph').click();
  const panel = page.getByTestId('graph-panel');
  await expect(panel).not.toHaveAttribute('data-painted', '0', { timeout: 30_000 });

  // Folded BNs are no nodes of their own; the base model's layers sit in its group.
  const project = (await page.locator('[data-testid="graph-node"][data-node$="/block_1_project"]').getAttribute('data-node'))!;
  const base = project.slice(0, project.lastIndexOf('/'));
  await expect(node(page, project)).toHaveAttribute('data-folded', `${base}/block_1_project_BN`);
  await expect(page.locator('[data-testid="graph-node"][data-node$="_BN"]')).toHaveCount(0);
  await expect(page.locator(`[data-testid="graph-group"][data-group="${base}"]`)).toHaveCount(1);
  const add = `${base}/block_2_add`;
  await expect(page.locator(`[data-testid="graph-edge"][data-source="${project}"][data-target="${add}"]`)).toHaveCount(1);
  await page.screenshot({ path: path.join(artifactsDir, 'graph-model.png') });

  // Overlay: per-channel minus per-tensor weight SQNR, as the database holds it.
  await page.getByTestId('graph-overlay').selectOption('weight-sqnr-diff');
  await page.getByTestId('graph-run-a').selectOption(String(runIds.perChannel));
  await page.getByTestId('graph-run-b').selectOption(String(runIds.perTensor));
  const legend = page.getByTestId('graph-legend');
  await expect(legend).toHaveAttribute('data-overlay', 'weight-sqnr-diff');
  const sqnr = (run: number, layer: string) => weights.find((w) => w.run_id === run && w.layer === layer)?.sqnr ?? null;
  const withBoth = [...new Set(weights.map((w) => w.layer))].filter((l) => sqnr(runIds.perChannel, l) !== null && sqnr(runIds.perTensor, l) !== null);
  expect(withBoth.length).toBeGreaterThan(40);
  await expect(legend).toHaveAttribute('data-marked', String(withBoth.length));
  for (const layer of [project, withBoth[0]!, withBoth[withBoth.length - 1]!]) {
    const d = sqnr(runIds.perChannel, layer)! - sqnr(runIds.perTensor, layer)!;
    await expect(node(page, layer)).toHaveAttribute('data-mark', `${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(1)} dB`);
  }
  await page.screenshot({ path: path.join(artifactsDir, 'graph-overlay.png') });
  // Lint: the run's finding on a folded BatchNorm shows on the convolution it is drawn in.
  const lint = queryAll<{ lint: string }>(dbPath, `SELECT lint FROM runs WHERE id = ?`, runIds.perChannel);
  const findings = JSON.parse(lint[0]!.lint) as { layer: string | null; code: string; severity: string }[];
  const bnFinding = findings.find((f) => f.layer === `${base}/block_1_project_BN`)!;
  expect(bnFinding, 'the run lints the folded BN').toBeTruthy();
  await page.getByTestId('graph-overlay').selectOption('lint');
  await expect(legend).toHaveAttribute('data-overlay', 'lint');
  await expect(node(page, project)).toHaveAttribute('data-mark', `${bnFinding.severity}: ${bnFinding.code}`);
  await page.getByTestId('graph-overlay').selectOption('weight-sqnr-diff');

  // Click a node: its details, with both runs' tensors, per-channel bars and the histogram.
  await page.getByTestId('graph-fit').click();
  await node(page, project).click();
  const details = page.getByTestId('graph-details');
  await expect(details).toHaveAttribute('data-layer', project);
  await expect(details.getByTestId('graph-details-folded')).toContainText('block_1_project_BN');
  await expect(details.locator(`[data-testid="graph-details-tensors"] tr[data-role="weight"]`)).toHaveCount(2);
  await expect(details.getByTestId('layer-explain-note')).toHaveAttribute('data-kind', 'own-range');
  await expect(details.getByTestId('channel-chart')).not.toHaveAttribute('data-channel-count', '0');
  // Charts draw when they come into view.
  await details.getByTestId('histogram-chart').scrollIntoViewIfNeeded();
  await expect(details.getByTestId('histogram-chart').locator('canvas')).toHaveCount(2);
  await page.screenshot({ path: path.join(artifactsDir, 'graph-details.png') });
  await details.getByRole('button', { name: 'Close' }).click();
  await expect(details).toHaveCount(0);

  // Search, then the keyboard: down from block_1_project, across to the residual Add, Enter opens it.
  await page.getByTestId('graph-search').fill('block_1_proj');
  await expect(page.getByTestId('graph-match-count')).toHaveText('1 match');
  await page.getByTestId('graph-search').press('Enter');
  await expect(selectedNode(page)).toHaveAttribute('data-node', project);
  await page.keyboard.press('ArrowDown');
  const after = await selectedNode(page).getAttribute('data-node');
  expect([`${base}/block_2_expand`, add]).toContain(after);
  if (after !== add) await page.keyboard.press('ArrowRight');
  await expect(selectedNode(page)).toHaveAttribute('data-node', add);
  await page.keyboard.press('Enter');
  await expect(details).toHaveAttribute('data-layer', add);
  await page.keyboard.press('ArrowUp');
  await expect(selectedNode(page)).toHaveAttribute('data-node', new RegExp(`${base}/block_[12]_project$`));
  await page.screenshot({ path: path.join(artifactsDir, 'graph-keyboard.png') });

  // The base model collapses into one node and opens again.
  const nodesOpen = await page.getByTestId('graph-node').count();
  const outside = await page.getByTestId('graph-node').evaluateAll((els, g) => els.filter((e) => !e.getAttribute('data-node')!.startsWith(`${g}/`)).length, base);
  expect(outside).toBeGreaterThanOrEqual(3);
  await page.getByTestId('graph-collapse-all').click();
  await expect(page.locator(`[data-testid="graph-group-node"][data-node="${base}"]`)).toHaveCount(1);
  await expect(page.getByTestId('graph-node')).toHaveCount(outside);
  await page.locator(`[data-testid="graph-group-node"][data-node="${base}"]`).click();
  await expect(page.getByTestId('graph-node')).toHaveCount(nodesOpen);

  // Compare: the same graph under the two runs; the culprit action re-runs run A with the layer kept float.
  await page.getByTestId('nav-runs').click();
  for (const id of [runIds.perTensor, runIds.perChannel]) await page.getByTestId(`runs-select-${id}`).check();
  await page.getByTestId('compare-button').click();
  await page.getByTestId('compare-graph').scrollIntoViewIfNeeded();
  const cmpPanel = page.locator('[data-testid="compare-view"] [data-testid="graph-panel"]');
  await expect(cmpPanel).not.toHaveAttribute('data-painted', '0', { timeout: 30_000 });
  await expect(cmpPanel.getByTestId('graph-legend')).toHaveAttribute('data-overlay', 'weight-sqnr-diff');
  // Search brings the node into view; a click opens it.
  await cmpPanel.getByTestId('graph-search').fill('block_1_project');
  await cmpPanel.getByTestId('graph-search').press('Enter');
  await expect(cmpPanel.locator('[data-testid="graph-node"][data-selected="true"]')).toHaveAttribute('data-node', project);
  await cmpPanel.locator(`[data-testid="graph-node"][data-node="${project}"]`).click();
  await expect(cmpPanel.getByTestId('graph-details')).toHaveAttribute('data-layer', project);
  await cmpPanel.screenshot({ path: path.join(artifactsDir, 'graph-compare.png') });
  await expect(page.getByTestId('compare-run')).toHaveCount(2);
  await cmpPanel.getByTestId('graph-culprit-float').click();
  await expect(page.getByTestId('compare-run')).toHaveCount(3);
});

test('a 600-layer chain is too many to lay out at once: it starts in collapsed chunks with a note, and a chunk opens', async ({ page }) => {
  const tf = await import('@tensorflow/tfjs');
  const work = mkdtempSync(path.join(os.tmpdir(), 'studio-e2e-graph-chain-'));
  const chain = tf.sequential({ name: 'chain600' });
  chain.add(tf.layers.dense({ units: 4, inputShape: [4], activation: 'relu' }));
  for (let i = 1; i < 600; i++) chain.add(tf.layers.dense({ units: 4, activation: 'relu' }));
  const lastLayer = chain.layers[599]!.name;
  const { writeLayersModelFiles } = await import('../../dist/src-main/io/models/tfjs-layers.js');
  const [modelJson] = await writeLayersModelFiles(chain, path.join(work, 'chain600'));
  chain.dispose();
  const chainHost = await startStudioHost(['--import-dir', work]);
  try {
    await page.goto(chainHost.openUrl);
    await page.getByTestId('nav-model').click();
    const panel = page.getByTestId('import-panel');
    await panel.getByTestId('import-model-path').fill(modelJson!);
    await panel.getByTestId('import-mode-reference').check();
    await panel.getByTestId('import-model-name').fill('chain600');
    await panel.getByTestId('import-model-submit').click();
    await expect(page.getByTestId('model-detail-name')).toHaveText('chain600');
    await page.getByTestId('model-view-graph').click();
    await expect(page.getByTestId('graph-panel')).not.toHaveAttribute('data-painted', '0', { timeout: 30_000 });
    // 601 layers (the input and 600 Dense) over the cap of 400: chunks of ⌈601 / 100⌉ = 7 consecutive layers, 86 of them.
    await expect(page.getByTestId('graph-note')).toContainText('601 layers are more than the 400');
    await expect(page.getByTestId('graph-group-node')).toHaveCount(86);
    await expect(page.getByTestId('graph-node')).toHaveCount(0);
    await page.screenshot({ path: path.join(artifactsDir, 'graph-chunks.png') });
    await page.getByTestId('graph-group-node').first().click();
    await expect(page.getByTestId('graph-node')).toHaveCount(7);
    await expect(page.getByTestId('graph-group-node')).toHaveCount(85);
    // Search opens the chunk holding a match: the last one, layers 596-601.
    await expect(page.getByTestId('graph-group-node').last()).toHaveAttribute('data-node', /596\u2013601$/);
    await page.getByTestId('graph-search').fill(lastLayer);
    await page.getByTestId('graph-search').press('Enter');
    await expect(page.locator('[data-testid="graph-node"][data-selected="true"]')).toHaveAttribute('data-node', lastLayer);
    await expect(page.getByTestId('graph-node')).toHaveCount(13);
  } finally {
    await chainHost.stop();
    rmSync(work, { recursive: true, force: true });
  }
});
