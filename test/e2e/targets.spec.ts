// An export target from New run on a QAT run: the target's rules checked by
// lint before the run exists (4-bit weights refused for tflite-int8, naming
// the layer), then a run that follows the target trained to the end, its
// run detail saying which target it was planned for. (That its exports score
// the run's accuracy is checked in test/src-main/engine/qat/target.test.ts.)
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

test('QAT with export target tflite-int8 from New run: lint refuses 4-bit weights, the run trains and says its target', async ({ page }) => {
  test.skip(!existsSync(SAMPLE_MODEL), 'the trained sample model is not in this build');
  test.setTimeout(RUN_TIMEOUT + 60_000);
  await page.goto(host.openUrl);
  await page.getByTestId('nav-new').click();
  await expect(page.getByTestId('new-run-model').locator('option', { hasText: 'fashion_cnn_sample' })).not.toHaveCount(0);
  await page.getByTestId('new-run-model').selectOption({ label: 'fashion_cnn_sample' });
  await page.getByTestId('new-run-kind').selectOption('qat');
  await page.getByTestId('new-run-epochs').fill('0.1');
  await page.getByTestId('new-run-eval').fill('300');
  await page.getByTestId('new-run-calibration').fill('128');
  await page.getByTestId('new-run-target').selectOption('tflite-int8');
  await expect(page.getByTestId('new-run-target-summary')).not.toBeEmpty();
  await expect(page.getByTestId('new-run-target-qat')).toContainText("Training follows the target's plan");

  // What the target cannot hold is a lint error before any run row: 4-bit weights.
  await page.getByTestId('new-run-weight-bits').fill('4');
  const lint = page.getByTestId('new-run-lint');
  await expect(lint).toHaveAttribute('data-linting', 'false');
  await expect(lint.locator('li.error')).not.toHaveCount(0);
  await expect(lint.locator('li.error').first()).toContainText('weight conv2d/kernel has 4 bits; tflite-int8 stores 8-bit weights');
  await expect(page.getByTestId('start-run')).toBeDisabled();
  await lint.scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(artifactsDir, 'new-run-qat-target-lint.png') });

  await page.getByTestId('new-run-weight-bits').fill('8');
  await expect(lint).toHaveAttribute('data-linting', 'false');
  await expect(lint.locator('li.error')).toHaveCount(0);
  await page.getByTestId('start-run').click();
  const item = page.getByTestId('run-progress').first();
  const id = Number(await item.getAttribute('data-run-id'));
  await expect(page.locator(`[data-testid="run-progress"][data-run-id="${id}"]`)).toHaveAttribute('data-status', 'done', { timeout: RUN_TIMEOUT });

  await page.getByTestId('nav-runs').click();
  await page.getByTestId(`runs-open-${id}`).click();
  await expect(page.getByTestId('run-detail-config')).toContainText('Export target: tflite-int8');
});
