// QAT end to end through the web host on a temporary database:
//  1. the Model view explains every quantization variable of the built-in
//     Dense 784-256-128-10: 235,146 float parameters, 235,164 under Keras's
//     QAT (3 for the input quantizer, 5 per Dense), and the studio's own
//     variables with per-channel kernel ranges as [C] vectors;
//  2. a short QAT run of the bundled sample (1 epoch, batch 64) started from
//     New run draws live loss / accuracy / range curves while it trains and
//     reaches done. Screenshot: test-results/screenshots/qat.png.
// Until the trained sample model is bundled, the built-in (untrained)
// fashion_cnn is used instead, as in compare.spec.ts.
import { expect, test, type Page } from '@playwright/test';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { artifactsDir, root, startStudioHost, type RunningHost } from './studio-host.js';

const SAMPLE_MODEL = path.join(root, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json');
const SAMPLE_DATA = path.join(root, 'assets', 'sample', 'fashion-mnist');
const DENSE = 'dense_784_256_128_10';
const RUN_TIMEOUT = 240_000;

let host: RunningHost;

test.beforeAll(async () => {
  host = await startStudioHost();
});

test.afterAll(async () => {
  await host?.stop();
});

/** Selects a model in the Model view, adding it from the built-in catalog first if it is not in the store. */
async function openModel(page: Page, name: string): Promise<void> {
  await page.getByTestId('nav-model').click();
  const item = page.getByTestId('model-item').filter({ hasText: new RegExp(`^\\s*${name}\\b`) });
  const builtin = page.locator(`[data-testid="builtin-item"][data-builtin="${name}"]`);
  await expect(builtin.or(item).first()).toBeVisible();
  if ((await item.count()) === 0) await builtin.getByTestId('builtin-add').click();
  await item.first().click();
  await expect(page.getByTestId('model-detail-name')).toHaveText(name);
}

test('the Model view explains every quantization variable of the Dense 784-256-128-10', async ({ page }) => {
  await page.goto(host.openUrl);
  await openModel(page, DENSE);

  const panel = page.getByTestId('explain-panel');
  await expect(panel).toBeVisible();
  await expect(panel.getByTestId('explain-float-total')).toHaveText('235,146');
  await expect(panel.getByTestId('explain-keras-total')).toHaveText('235,164');
  await expect(panel).toContainText('235,146');

  // Keras: 3 variables for the input quantizer and 5 per Dense, all scalars (tfmot's Dense kernels are per-tensor).
  const keras = panel.locator('[data-testid="explain-row"][data-column="keras"]');
  await expect(keras).toHaveCount(3 + 3 * 5);
  await expect(keras.filter({ hasText: 'optimizer_step' })).toHaveCount(4);
  await expect(panel.locator('[data-testid="explain-row"][data-column="keras"][data-shape="scalar"]')).toHaveCount(18);

  // The studio's default config: per-channel kernel ranges are vectors of the output channels.
  const studio = panel.locator('[data-testid="explain-row"][data-column="studio"]');
  await expect(studio.first()).toBeVisible();
  const vectors = panel.locator('[data-testid="explain-row"][data-column="studio"][data-shape="[256]"]');
  await expect(vectors).toHaveCount(2);
  const studioTotal = await panel.getByTestId('explain-studio-total').textContent();

  // Per-tensor weights: the same variables become scalars, and the total drops.
  await panel.getByTestId('explain-weight-granularity').selectOption('per-tensor');
  await expect(vectors).toHaveCount(0);
  await expect(panel.getByTestId('explain-studio-total')).not.toHaveText(studioTotal ?? '');
  await expect(panel.locator('[data-testid="explain-row"][data-column="studio"]:not([data-shape="scalar"])')).toHaveCount(0);
  await panel.getByTestId('explain-weight-granularity').selectOption('per-channel');
  await expect(vectors).toHaveCount(2);
  await expect(panel.getByTestId('explain-studio-total')).toHaveText(studioTotal ?? '');
  await page.setViewportSize({ width: 1400, height: 2000 });
  await page.screenshot({ path: path.join(artifactsDir, 'explain.png') });
  await page.setViewportSize({ width: 1400, height: 900 });
});

test('a short QAT run of the sample shows live curves and finishes', async ({ page }) => {
  test.skip(!existsSync(SAMPLE_DATA), `the bundled sample dataset is not in this build (${path.relative(root, SAMPLE_DATA)})`);
  test.setTimeout(RUN_TIMEOUT + 60_000);
  await page.goto(host.openUrl);

  // The bundled trained sample when it is in the store, else the built-in fashion_cnn added from the catalog.
  await page.getByTestId('nav-model').click();
  await expect(page.getByTestId('model-list').or(page.getByTestId('models-empty'))).toBeVisible();
  const hasSample = existsSync(SAMPLE_MODEL) && (await page.getByTestId('model-item').filter({ hasText: /^\s*fashion_cnn_sample\b/ }).count()) > 0;
  const model = hasSample ? 'fashion_cnn_sample' : 'fashion_cnn';
  await openModel(page, model);

  await page.getByTestId('nav-new').click();
  await page.getByTestId('new-run-kind').selectOption('qat');
  await page.getByTestId('new-run-model').selectOption({ label: model });
  const dataset = page.getByTestId('new-run-dataset').locator('option', { hasText: 'fashion-mnist-sample' });
  await expect(dataset).toHaveCount(1);
  await page.getByTestId('new-run-dataset').selectOption((await dataset.getAttribute('value'))!);
  // Training fields for QAT, the BN freeze step included.
  for (const id of ['new-run-optimizer', 'new-run-lr', 'new-run-batch', 'new-run-epochs', 'new-run-val-split', 'new-run-bn-freeze']) {
    await expect(page.getByTestId(id)).toBeVisible();
  }
  await page.getByTestId('new-run-optimizer').selectOption('sgd');
  await expect(page.getByTestId('new-run-momentum')).toBeVisible();
  await page.getByTestId('new-run-optimizer').selectOption('adam');
  await expect(page.getByTestId('new-run-momentum')).toHaveCount(0);
  await page.getByTestId('new-run-epochs').fill('1');
  await page.getByTestId('new-run-batch').fill('64');
  await page.getByTestId('new-run-val-split').fill('0.1');
  await page.getByTestId('new-run-eval').fill('200');
  await page.getByTestId('new-run-calibration').fill('128');
  await expect(page.getByTestId('new-run-lint')).toHaveAttribute('data-linting', 'false');
  await expect(page.getByTestId('new-run-lint')).not.toContainText('Could not lint');

  await page.getByTestId('start-run').click();
  const item = page.getByTestId('run-progress').first();
  await expect(item).toBeVisible();
  const runId = await item.getAttribute('data-run-id');
  const run = page.locator(`[data-testid="run-progress"][data-run-id="${runId}"]`);
  await expect(run).toContainText('qat');

  // Live: the chart gets points while the run is still running.
  const live = run.getByTestId('live-curves');
  await expect(live).toBeVisible();
  const liveWhileRunning = page.locator(`[data-testid="run-progress"][data-run-id="${runId}"][data-status="running"] [data-testid="live-curves"]:not([data-points="0"])`);
  await expect(liveWhileRunning).toBeVisible({ timeout: RUN_TIMEOUT });
  const pointsWhileRunning = Number(await live.getAttribute('data-points'));
  await expect(live.getByTestId('training-curves').locator('canvas')).not.toHaveCount(0);

  // The Runs view shows the run's live curves above the table while it trains (or, if it just ended, the done row).
  await page.getByTestId('nav-runs').click();
  const runsLive = page.locator(`[data-testid="runs-live"][data-run-id="${runId}"] [data-testid="live-curves"]:not([data-points="0"])`);
  await expect(runsLive.or(page.locator(`[data-testid="runs-row-${runId}"][data-status="done"]`))).toBeVisible();
  await page.getByTestId('nav-new').click();

  await expect(run).toHaveAttribute('data-status', 'done', { timeout: RUN_TIMEOUT });
  await expect(run.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '100');
  // After the end, the last points (validation included) are in.
  const points = Number(await live.getAttribute('data-points'));
  expect(points).toBeGreaterThan(0);
  await expect(live.getByTestId('training-latest')).toContainText('val acc');
  // QAT logs the quantizers' ranges: the range chart is there with its group picker.
  await expect(live.getByTestId('training-range-group')).toBeVisible();
  await expect(live.locator('.uplot-host')).toHaveCount(3);
  for (const chart of await live.locator('.uplot-host').all()) await expect(chart.locator('canvas')).toHaveCount(1);
  test.info().annotations.push({ type: 'live', description: `${pointsWhileRunning} points seen while running, ${points} at the end` });

  await page.screenshot({ path: path.join(artifactsDir, 'qat.png'), fullPage: true });
});
