// The main loop on the bundled sample: from New run, a per-tensor and a
// per-channel PTQ run of fashion_cnn_sample; both followed to the end
// through the progress UI; then Compare names the granularity in the config
// diff and draws one bar per output channel of the first conv. Screenshots
// of Runs and Compare go to test-results/screenshots/.
// Until the trained sample model is bundled, the built-in (untrained)
// fashion_cnn is added from the Model view's catalog instead: same
// architecture, same path through the engine, meaningless accuracy.
import { expect, test, type Page } from '@playwright/test';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { artifactsDir, root, startStudioHost, type RunningHost } from './studio-host.js';

const SAMPLE_MODEL = path.join(root, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json');
const SAMPLE_DATA = path.join(root, 'assets', 'sample', 'fashion-mnist');
const MODEL = existsSync(SAMPLE_MODEL) ? 'fashion_cnn_sample' : 'fashion_cnn';
const RUN_TIMEOUT = 150_000;

let host: RunningHost;

test.beforeAll(async () => {
  host = await startStudioHost();
});

test.afterAll(async () => {
  await host?.stop();
});

/** Output channels of the sample's first Conv2D, read from the Model view ("kernel 3×3×1×8" -> 8). */
async function firstConv(page: Page): Promise<{ layer: string; channels: number }> {
  await page.getByTestId('nav-model').click();
  if (MODEL !== 'fashion_cnn_sample') await page.locator(`[data-testid="builtin-item"][data-builtin="${MODEL}"] [data-testid="builtin-add"]`).click();
  await page.getByTestId('model-item').filter({ hasText: new RegExp(`^\\s*${MODEL}\\b`) }).first().click();
  const row = page.getByTestId('layer-row').filter({ has: page.locator('span.op', { hasText: /^conv2d$/i }) }).first();
  await expect(row).toBeVisible();
  const layer = (await row.getAttribute('data-layer'))!;
  const weights = (await row.locator('td.weights').textContent()) ?? '';
  const m = /kernel\s+[\d×]*×(\d+)/.exec(weights);
  expect(m, `kernel shape of ${layer} in "${weights}"`).not.toBeNull();
  return { layer, channels: Number(m![1]) };
}

async function startRun(page: Page, granularity: 'per-tensor' | 'per-channel'): Promise<number> {
  await page.getByTestId('nav-new').click();
  await expect(page.getByTestId('new-run-model').locator('option', { hasText: MODEL })).not.toHaveCount(0);
  await page.getByTestId('new-run-model').selectOption({ label: MODEL });
  await page.getByTestId('new-run-kind').selectOption('ptq');
  await page.getByTestId('new-run-weight-granularity').selectOption(granularity);
  await page.getByTestId('new-run-calibration').fill('256');
  await page.getByTestId('new-run-eval').fill('500');
  // The lint preview answers before Start (errors would block it).
  await expect(page.getByTestId('new-run-lint')).toHaveAttribute('data-linting', 'false');
  const before = await page.getByTestId('run-progress').count();
  await page.getByTestId('start-run').click();
  await expect(page.getByTestId('run-progress')).toHaveCount(before + 1);
  return Number(await page.getByTestId('run-progress').first().getAttribute('data-run-id'));
}

test(`per-tensor vs per-channel PTQ of ${MODEL}, compared`, async ({ page }) => {
  test.skip(!existsSync(SAMPLE_DATA), `the bundled sample dataset is not in this build (${path.relative(root, SAMPLE_DATA)})`);
  test.setTimeout(2 * RUN_TIMEOUT + 60_000);
  await page.goto(host.openUrl);
  const conv = await firstConv(page);

  const perTensor = await startRun(page, 'per-tensor');
  const perChannel = await startRun(page, 'per-channel');
  expect(perChannel).not.toBe(perTensor);

  // Both followed to the end in the progress UI.
  for (const id of [perTensor, perChannel]) {
    const item = page.locator(`[data-testid="run-progress"][data-run-id="${id}"]`);
    await expect(item).toHaveAttribute('data-status', /running|done/, { timeout: 60_000 });
    await expect(item).toHaveAttribute('data-status', 'done', { timeout: RUN_TIMEOUT });
    await expect(item.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '100');
  }

  await page.getByTestId('nav-runs').click();
  for (const id of [perTensor, perChannel]) {
    await expect(page.getByTestId(`runs-row-${id}`)).toHaveAttribute('data-status', 'done');
    await page.getByTestId(`runs-select-${id}`).check();
  }
  await page.screenshot({ path: path.join(artifactsDir, 'runs.png') });
  await page.getByTestId('compare-button').click();

  const diff = page.getByTestId('config-diff');
  await expect(diff).toContainText('granularity');
  await expect(diff.locator('tr[data-field="weights.granularity"]')).toContainText('per-tensor');
  await expect(diff.locator('tr[data-field="weights.granularity"]')).toContainText('per-channel');

  const channels = page.getByTestId('channel-chart');
  await expect(channels).toHaveAttribute('data-layer', conv.layer);
  await expect(channels).toHaveAttribute('data-channel-count', String(conv.channels));
  await channels.scrollIntoViewIfNeeded();
  await expect(channels.locator('canvas')).toHaveCount(1);
  await expect(page.getByTestId('sqnr-chart').locator('canvas').first()).toBeVisible();
  const hist = page.getByTestId('histogram-chart');
  await hist.scrollIntoViewIfNeeded();
  await expect(hist.locator('canvas')).toHaveCount(2);

  // Every chart drawn, then the whole view in one picture.
  await page.setViewportSize({ width: 1400, height: 3000 });
  for (const chart of await page.locator('.uplot-host').all()) await expect(chart.locator('canvas')).toHaveCount(1);
  await page.screenshot({ path: path.join(artifactsDir, 'compare.png') });
  await page.setViewportSize({ width: 1400, height: 900 });

  // Find the culprit: the first conv kept float, as a child of the base run, joins the comparison.
  await expect(page.getByTestId('compare-run')).toHaveCount(2);
  await page.getByTestId(`culprit-float-${conv.layer}`).click();
  await expect(page.getByTestId('compare-run')).toHaveCount(3);
  const child = page.getByTestId('compare-run').nth(2);
  await expect(child).toContainText(`${conv.layer.replace(/[^A-Za-z0-9]+/g, '')}float`);
  const childId = await child.getAttribute('data-run-id');
  await expect(page.locator(`[data-testid="compare-metrics"] tr[data-run-id="${childId}"]`)).toContainText('done', { timeout: RUN_TIMEOUT });
  await expect(page.locator(`[data-testid="compare-metrics"] tr[data-run-id="${childId}"]`)).toContainText('↳');
  await expect(page.getByTestId('config-diff').locator(`tr[data-field="override.${conv.layer}"]`)).toContainText('float');
});
