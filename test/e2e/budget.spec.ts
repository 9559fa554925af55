// Accuracy budget from New run on the bundled sample CNN through the web
// host: the search's steps appear as they end (each a PTQ run), the chosen
// configuration is shown, the runs list holds the steps as runs with the
// chosen one named "budget result", and "Compare steps" opens them in Compare.
import { expect, test } from '@playwright/test';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { artifactsDir, root, startStudioHost, type RunningHost } from './studio-host.js';

const SAMPLE_MODEL = path.join(root, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json');
const SEARCH_TIMEOUT = 240_000;

let host: RunningHost;

test.beforeAll(async () => {
  host = await startStudioHost();
});

test.afterAll(async () => {
  await host?.stop();
});

test('an accuracy-budget search from New run: steps as runs, the choice shown, the steps compared', async ({ page }) => {
  test.skip(!existsSync(SAMPLE_MODEL), 'the trained sample model is not in this build');
  test.setTimeout(SEARCH_TIMEOUT + 60_000);
  await page.goto(host.openUrl);
  await page.getByTestId('nav-new').click();
  await expect(page.getByTestId('new-run-model').locator('option', { hasText: 'fashion_cnn_sample' })).not.toHaveCount(0);
  await page.getByTestId('new-run-model').selectOption({ label: 'fashion_cnn_sample' });
  await expect(page.getByTestId('new-run-name')).toBeVisible();
  await page.getByTestId('new-run-kind').selectOption('budget');
  await expect(page.getByTestId('new-run-budget')).toContainText('Max drop');
  // Each step run gets its own name, and the menu sets the bits: no Name field, the Bits fields disabled saying why.
  await expect(page.getByTestId('new-run-name')).toHaveCount(0);
  for (const bits of ['new-run-weight-bits', 'new-run-act-bits']) {
    await expect(page.getByTestId(bits)).toBeDisabled();
    await expect(page.getByTestId(bits)).toHaveAttribute('title', /bits come from the menu/);
  }
  await page.getByTestId('new-run-calibration').fill('100');
  await page.getByTestId('new-run-eval').fill('300');
  // Per-tensor 4-bit weights lose more than nothing on the start, so the search takes steps.
  await page.getByTestId('new-run-weight-granularity').selectOption('per-tensor');
  await page.getByTestId('new-run-budget-drop').fill('0');
  await page.getByTestId('new-run-budget-menu').fill('w4,w8');
  await page.getByTestId('new-run-budget-steps').fill('5');
  await expect(page.getByTestId('new-run-lint')).toHaveAttribute('data-linting', 'false');
  await page.getByTestId('start-run').click();
  const search = page.getByTestId('budget-progress').first();
  await expect(search).toHaveAttribute('data-status', 'done', { timeout: SEARCH_TIMEOUT });
  const steps = await search.getByTestId('budget-step').count();
  expect(steps).toBeGreaterThanOrEqual(2);
  expect(steps).toBeLessThanOrEqual(5);
  await expect(search.getByTestId('budget-result')).toContainText(/Chosen: run #\d+|Not met/);
  await expect(search.getByTestId('budget-result')).toContainText('Per layer: ');
  await page.screenshot({ path: path.join(artifactsDir, 'budget-new-run.png'), fullPage: true });

  // Every step is a run; the chosen one is named so.
  await page.getByTestId('nav-runs').click();
  await expect(page.getByText(/budget ≤0 pt · .*budget result/)).toHaveCount(1, { timeout: 10_000 });

  await page.getByTestId('nav-new').click();
  await page.getByTestId('budget-progress').first().getByTestId('budget-compare').click();
  await expect(page.getByTestId('compare-view')).toBeVisible();
  await expect(page.getByTestId('compare-run')).toHaveCount(steps, { timeout: 30_000 });
});
