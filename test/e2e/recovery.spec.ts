// Accuracy recovery from New run: a PTQ run of the bundled sample with
// cross-layer equalization and empirical bias correction ticked in the
// "Accuracy recovery" fieldset, and one without; both followed to the end;
// Compare's config diff names what recovery each used; "Edit as new run"
// fills the form with each run's recovery again.
import { expect, test, type Page } from '@playwright/test';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { artifactsDir, root, startStudioHost, type RunningHost } from './studio-host.js';

const SAMPLE_MODEL = path.join(root, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json');
const RUN_TIMEOUT = 150_000;

let host: RunningHost;

test.beforeAll(async () => {
  host = await startStudioHost();
});

test.afterAll(async () => {
  await host?.stop();
});

async function startRun(page: Page, recovery: boolean): Promise<number> {
  await page.getByTestId('nav-new').click();
  await expect(page.getByTestId('new-run-model').locator('option', { hasText: 'fashion_cnn_sample' })).not.toHaveCount(0);
  await page.getByTestId('new-run-model').selectOption({ label: 'fashion_cnn_sample' });
  await page.getByTestId('new-run-kind').selectOption('ptq');
  await page.getByTestId('new-run-weight-granularity').selectOption('per-tensor');
  await page.getByTestId('new-run-calibration').fill('200');
  await page.getByTestId('new-run-eval').fill('300');
  const fieldset = page.getByTestId('new-run-recovery');
  await expect(fieldset).toContainText('Accuracy recovery');
  await page.getByTestId('new-run-cle').setChecked(recovery);
  await page.getByTestId('new-run-bias-correction').selectOption(recovery ? 'empirical' : 'off');
  if (recovery) await expect(page.getByTestId('new-run-cle-relu6')).toHaveValue('skip');
  if (recovery) await expect(page.getByTestId('new-run-cle-flatten')).toHaveValue('skip');
  await expect(page.getByTestId('new-run-lint')).toHaveAttribute('data-linting', 'false');
  const before = await page.getByTestId('run-progress').count();
  await page.getByTestId('start-run').click();
  await expect(page.getByTestId('run-progress')).toHaveCount(before + 1);
  return Number(await page.getByTestId('run-progress').first().getAttribute('data-run-id'));
}

test('PTQ with CLE and empirical bias correction from New run, compared with a plain run', async ({ page }) => {
  test.skip(!existsSync(SAMPLE_MODEL), 'the trained sample model is not in this build');
  test.setTimeout(2 * RUN_TIMEOUT + 60_000);
  await page.goto(host.openUrl);
  const plain = await startRun(page, false);
  const recovered = await startRun(page, true);
  for (const id of [plain, recovered]) {
    const item = page.locator(`[data-testid="run-progress"][data-run-id="${id}"]`);
    await expect(item).toHaveAttribute('data-status', 'done', { timeout: RUN_TIMEOUT });
  }
  await page.getByTestId('nav-runs').click();
  for (const id of [plain, recovered]) await page.getByTestId(`runs-select-${id}`).check();
  await page.getByTestId('compare-button').click();
  const diff = page.getByTestId('config-diff');
  await expect(diff.locator('tr[data-field="recovery.cle"]')).toContainText('off');
  await expect(diff.locator('tr[data-field="recovery.cle"]')).toContainText('on');
  await expect(diff.locator('tr[data-field="recovery.biasCorrection"]')).toContainText('empirical');
  await page.screenshot({ path: path.join(artifactsDir, 'compare-recovery.png') });

  // Edit as new run carries each run's recovery back into the form (the form still holds the last run's ticks).
  for (const [id, cle, bias] of [[plain, false, 'off'], [recovered, true, 'empirical']] as const) {
    await page.getByTestId('nav-runs').click();
    await page.getByTestId(`runs-open-${id}`).click();
    await expect(page.getByTestId('run-detail')).toHaveAttribute('data-run-id', String(id));
    await page.getByTestId('run-detail-edit').click();
    await expect(page.getByTestId('new-run-edited-from')).toContainText(`run #${id}`);
    await expect(page.getByTestId('new-run-cle')).toBeChecked({ checked: cle });
    await expect(page.getByTestId('new-run-bias-correction')).toHaveValue(bias);
    await expect(page.getByTestId('new-run-calibration')).toHaveValue('200');
  }
});
