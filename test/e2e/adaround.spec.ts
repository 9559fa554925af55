// AdaRound from New run: a PTQ run of the bundled sample with "AdaRound" ticked
// in the "Accuracy recovery" fieldset (few steps), followed to the end; the
// run detail opened from the Runs table shows its accuracy-recovery section.
import { expect, test } from '@playwright/test';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { artifactsDir, root, startStudioHost, type RunningHost } from './studio-host.js';

const SAMPLE_MODEL = path.join(root, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json');
const RUN_TIMEOUT = 240_000;

let host: RunningHost;

test.beforeAll(async () => {
  host = await startStudioHost();
});

test.afterAll(async () => {
  await host?.stop();
});

test('PTQ with AdaRound from New run; the run detail lists what it did per layer', async ({ page }) => {
  test.skip(!existsSync(SAMPLE_MODEL), 'the trained sample model is not in this build');
  test.setTimeout(RUN_TIMEOUT + 60_000);
  await page.goto(host.openUrl);
  await page.getByTestId('nav-new').click();
  await expect(page.getByTestId('new-run-model').locator('option', { hasText: 'fashion_cnn_sample' })).not.toHaveCount(0);
  await page.getByTestId('new-run-model').selectOption({ label: 'fashion_cnn_sample' });
  await page.getByTestId('new-run-kind').selectOption('ptq');
  await page.getByTestId('new-run-calibration').fill('200');
  await page.getByTestId('new-run-eval').fill('300');
  // Bias correction and AdaRound exclude each other: the box is off while bias correction is on.
  await page.getByTestId('new-run-bias-correction').selectOption('empirical');
  await expect(page.getByTestId('new-run-adaround')).toBeDisabled();
  await page.getByTestId('new-run-bias-correction').selectOption('off');
  await page.getByTestId('new-run-adaround').check();
  await expect(page.getByTestId('new-run-adaround-iterations')).toHaveValue('2000');
  await page.getByTestId('new-run-adaround-iterations').fill('100');
  await page.getByTestId('new-run-adaround-batch').fill('16');
  await expect(page.getByTestId('new-run-lint')).toHaveAttribute('data-linting', 'false');
  await page.getByTestId('start-run').click();
  const item = page.getByTestId('run-progress').first();
  const id = Number(await item.getAttribute('data-run-id'));
  await expect(page.locator(`[data-testid="run-progress"][data-run-id="${id}"]`)).toHaveAttribute('data-status', 'done', { timeout: RUN_TIMEOUT });

  await page.getByTestId('nav-runs').click();
  await page.getByTestId(`runs-open-${id}`).click();
  const section = page.getByTestId('run-detail').getByTestId('run-detail-recovery');
  await expect(section).toContainText('AdaRound');
  await expect(section).toContainText('4 layers, 100 steps of 16 samples each');
  await expect(section).toContainText(/conv2d: output MSE \S+ nearest → \S+;/);
  await expect(page.getByTestId('run-detail-config')).toContainText('Accuracy recovery: AdaRound (100 steps × 16, λ 0.01)');
  await section.scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(artifactsDir, 'run-detail-adaround.png') });
});
