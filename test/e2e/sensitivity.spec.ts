// Sensitivity analysis from New run on the bundled sample CNN through the web
// host: the run is followed to the end, its detail shows the ranked table and
// the chart (one row a quantized layer, worst first), and a row's "Float"
// button starts a PTQ child with that layer kept float, compared beside it.
import { expect, test } from '@playwright/test';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { artifactsDir, root, startStudioHost, type RunningHost } from './studio-host.js';

const SAMPLE_MODEL = path.join(root, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json');
const RUN_TIMEOUT = 150_000;
const LAYERS = ['conv2d_input', 'conv2d', 'conv2d_1', 'dense', 'dense_1'];

let host: RunningHost;

test.beforeAll(async () => {
  host = await startStudioHost();
});

test.afterAll(async () => {
  await host?.stop();
});

test('a sensitivity run from New run shows its ranked table and chart, and feeds the culprit loop', async ({ page }) => {
  test.skip(!existsSync(SAMPLE_MODEL), 'the trained sample model is not in this build');
  test.setTimeout(2 * RUN_TIMEOUT + 60_000);
  await page.goto(host.openUrl);
  await page.getByTestId('nav-new').click();
  await expect(page.getByTestId('new-run-model').locator('option', { hasText: 'fashion_cnn_sample' })).not.toHaveCount(0);
  await page.getByTestId('new-run-model').selectOption({ label: 'fashion_cnn_sample' });
  await page.getByTestId('new-run-kind').selectOption('sensitivity');
  await expect(page.getByTestId('new-run-sensitivity')).toContainText('Subset');
  await expect(page.getByTestId('new-run-recovery')).toHaveCount(0);
  await page.getByTestId('new-run-calibration').fill('200');
  await page.getByTestId('new-run-eval').fill('1000');
  await page.getByTestId('new-run-subset').fill('200');
  await expect(page.getByTestId('new-run-lint')).toHaveAttribute('data-linting', 'false');
  await page.getByTestId('start-run').click();
  const progress = page.getByTestId('run-progress').first();
  const id = Number(await progress.getAttribute('data-run-id'));
  await expect(page.locator(`[data-testid="run-progress"][data-run-id="${id}"]`)).toHaveAttribute('data-status', 'done', { timeout: RUN_TIMEOUT });

  // The runs list shows it as a sensitivity run; its detail holds the panel.
  await page.getByTestId('nav-runs').click();
  await expect(page.getByTestId(`runs-row-${id}`)).toContainText(/sensitivity/i);
  await page.getByTestId(`runs-open-${id}`).click();
  const detail = page.getByTestId('run-detail');
  await expect(detail.getByTestId('run-detail-basis')).toContainText('200 eval samples');
  const table = detail.getByTestId('sensitivity-table');
  await expect(table.locator('tbody tr')).toHaveCount(LAYERS.length);
  const ranked = await table.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-layer')));
  expect([...ranked].sort()).toEqual([...LAYERS].sort());
  // Worst first: each row's accuracy quantized alone is no higher than the next one's.
  const alone = await table.locator('tbody td[data-case="quantizedAlone"]').evaluateAll((cells) => cells.map((c) => Number(/([\d.]+) %/.exec(c.textContent ?? '')![1])));
  for (let i = 1; i < alone.length; i++) expect(alone[i - 1]!).toBeLessThanOrEqual(alone[i]!);
  // The input has no weights: its weights-alone case is a dash.
  await expect(table.locator('tr[data-layer="conv2d_input"] td[data-case="weightsAlone"]')).toHaveText('–');
  await expect(detail.getByTestId('sensitivity-chart').locator('.bar-row')).toHaveCount(LAYERS.length);
  await page.screenshot({ path: path.join(artifactsDir, 'sensitivity-detail.png'), fullPage: true });

  // The culprit loop: the worst layer kept float as a PTQ child, compared beside the analysis.
  const worst = ranked[0]!;
  await table.getByTestId(`sensitivity-float-${worst}`).click();
  await expect(page.getByTestId('compare-view')).toBeVisible();
  await expect(page.getByTestId('compare-run')).toHaveCount(2, { timeout: 30_000 });
  const panel = page.getByTestId('sensitivity-panel');
  await expect(panel.getByTestId('sensitivity-table').locator('tbody tr')).toHaveCount(LAYERS.length);
  const childId = Number(await page.getByTestId('compare-run').nth(1).getAttribute('data-run-id'));
  await page.getByTestId('nav-runs').click();
  await expect(page.getByTestId(`runs-row-${childId}`)).toContainText(/ptq/i);
  await expect(page.getByTestId(`runs-row-${childId}`)).toContainText(`${worst.replace(/[^A-Za-z0-9]+/g, '')}float`, { timeout: RUN_TIMEOUT });
});
