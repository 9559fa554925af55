// Issue #17 "Daily use" with the real engine (onnxruntime, the bundled sample
// model and Fashion-MNIST subset, a real SQLite file): runs made by the CLI in
// another process appear in Runs without Refresh; Compare leaves the model
// input out of the activation SQNR chart and says so; an ONNX export is
// downloaded from the browser host byte for byte, its integer-reference
// figures labelled, the view not pushed sideways; a QAT run's progress only
// goes forward across its phases and its model is shown as made by it; a
// model folder is imported through the file picker.
import { expect, test } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore } from '../../dist/src-main/store/index.js';
import { artifactsDir, root, startStudioHost, type RunningHost } from './studio-host.js';

const SAMPLE_MODEL_DIR = path.join(root, 'assets', 'sample', 'models', 'fashion_cnn');
const SAMPLE_DATA = path.join(root, 'assets', 'sample', 'fashion-mnist');
const RUN_TIMEOUT = 150_000;

let host: RunningHost;
let exportDir: string;

test.beforeAll(async () => {
  exportDir = path.join(mkdtempSync(path.join(os.tmpdir(), 'studio-e2e-daily-engine-')), 'exports');
  host = await startStudioHost(['--export-dir', exportDir]);
});

test.afterAll(async () => {
  await host?.stop();
  rmSync(path.dirname(exportDir), { recursive: true, force: true });
});

/** `studio calibrate` in its own process on the host's database, as a user at a terminal would. */
function cliCalibrate(granularity: 'per-tensor' | 'per-channel'): number {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'studio.js'), '--db', host.dbPath, 'calibrate', '--model', 'fashion_cnn_sample', '--data', 'fashion-mnist-sample', '--weights', granularity, '--json'], { cwd: root, encoding: 'utf8', timeout: RUN_TIMEOUT });
  if (r.status !== 0) throw new Error(`studio calibrate failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { id: number }).id;
}

test('CLI runs appear live; compare leaves the input out of the SQNR chart; an ONNX export downloads with labelled figures', async ({ page }) => {
  test.skip(!existsSync(SAMPLE_DATA), 'the bundled sample dataset is not in this build');
  test.setTimeout(2 * RUN_TIMEOUT + 120_000);
  await page.goto(host.openUrl);
  await expect(page.getByTestId('runs-empty')).toBeVisible();

  const perChannel = cliCalibrate('per-channel');
  const perTensor = cliCalibrate('per-tensor');
  // No Refresh: the page notices the other process's commits.
  await expect(page.getByTestId(`runs-row-${perChannel}`)).toBeVisible({ timeout: 10_000 });
  await expect(page.getByTestId(`runs-row-${perTensor}`)).toBeVisible({ timeout: 10_000 });

  await page.getByTestId(`runs-select-${perChannel}`).check();
  await page.getByTestId(`runs-select-${perTensor}`).check();
  await page.getByTestId('compare-button').click();
  // The sample has 4 layers with an output quantizer and the model input: 4 points, the input named below the chart.
  const act = page.getByTestId('sqnr-activation');
  await expect(act).toHaveAttribute('data-points', '4');
  await expect(act.getByTestId('sqnr-excluded')).toContainText(/model input conv2d_input \(\d{3}\.\d dB \/ \d{3}\.\d dB\)/);

  // Export the per-channel run to ONNX from the browser, then download it.
  await page.getByTestId('nav-runs').click();
  await page.getByTestId(`runs-export-${perChannel}`).click();
  await page.getByTestId('export-name').fill('daily_use_w8a8');
  await page.getByTestId('export-start').click();
  const job = page.getByTestId('export-job').first();
  await expect(job).toHaveAttribute('data-status', 'done', { timeout: 120_000 });
  const [download] = await Promise.all([page.waitForEvent('download'), job.getByTestId('export-download').click()]);
  expect(download.suggestedFilename()).toBe('daily_use_w8a8.onnx');
  const bytes = readFileSync((await download.path())!);
  const store = openStore(host.dbPath);
  let record;
  try {
    record = store.exports.listByRun(perChannel).at(-1)!;
  } finally {
    store.close();
  }
  expect(bytes.length).toBe(record.size);
  expect(createHash('sha256').update(bytes).digest('hex')).toBe(record.sha256);

  // What each accuracy measured, in words; the integer reference's figures labelled; nothing wider than the view.
  await expect(job.getByTestId('export-verification')).toContainText(/Accuracy in onnxruntime[^,]*, \d+ eval samples/);
  const integer = job.getByTestId('export-integer');
  if ((await integer.count()) > 0) {
    await expect(integer).toContainText('Top-1 agreement with the runtime');
    await expect(integer).not.toContainText('agreementWithRuntime');
  }
  const panel = page.getByTestId('view-export');
  expect(await panel.evaluate((el) => el.scrollWidth <= el.clientWidth + 1)).toBe(true);
  await page.screenshot({ path: path.join(artifactsDir, 'export-daily-use.png'), fullPage: true });

  // The run detail lists the export with the same runtime figures and a download link.
  await page.getByTestId('nav-runs').click();
  await page.getByTestId(`runs-open-${perChannel}`).click();
  await expect(page.getByTestId('run-detail-exports')).toContainText(/ONNX.*eval samples/);
  await expect(page.getByTestId(`run-detail-download-${record.id}`)).toHaveAttribute('href', `/api/exports/${record.id}/file`);
});

test('QAT progress only goes forward across its phases; its model shows as made by QAT run #N', async ({ page }) => {
  test.skip(!existsSync(SAMPLE_DATA), 'the bundled sample dataset is not in this build');
  test.setTimeout(RUN_TIMEOUT + 60_000);
  await page.goto(host.openUrl);
  await page.getByTestId('nav-new').click();
  await page.getByTestId('new-run-kind').selectOption('qat');
  await page.getByTestId('new-run-model').selectOption({ label: 'fashion_cnn_sample' });
  await page.getByTestId('new-run-epochs').fill('1');
  await page.getByTestId('new-run-eval').fill('500');
  await page.getByTestId('new-run-calibration').fill('128');
  await expect(page.getByTestId('new-run-lint')).toHaveAttribute('data-linting', 'false');
  // Record every overall figure and phase the progress line shows from now on.
  await page.evaluate(() => {
    const seen: { fraction: number; phase: string }[] = [];
    (window as unknown as { progressSeen: typeof seen }).progressSeen = seen;
    new MutationObserver(() => {
      const el = document.querySelector('[data-testid="run-progress-overall"]');
      const phase = document.querySelector('[data-testid="run-progress-phase"]');
      if (el && phase) seen.push({ fraction: Number(el.getAttribute('data-fraction')), phase: phase.textContent ?? '' });
    }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  });
  await page.getByTestId('start-run').click();
  const item = page.getByTestId('run-progress').first();
  const runId = await item.getAttribute('data-run-id');
  await expect(item).toHaveAttribute('data-status', 'done', { timeout: RUN_TIMEOUT });
  const seen = await page.evaluate(() => (window as unknown as { progressSeen: { fraction: number; phase: string }[] }).progressSeen);
  const phases = [...new Set(seen.map((s) => s.phase))];
  expect(phases, JSON.stringify(phases)).toEqual(expect.arrayContaining(['train', 'evaluate']));
  for (let i = 1; i < seen.length; i++) expect(seen[i]!.fraction, JSON.stringify(seen.slice(Math.max(0, i - 3), i + 1))).toBeGreaterThanOrEqual(seen[i - 1]!.fraction);
  test.info().annotations.push({ type: 'progress', description: `${seen.length} updates over phases ${phases.join(' → ')}` });

  await page.getByTestId('nav-model').click();
  await expect(page.getByTestId('model-origin').filter({ hasText: `from QAT run #${runId}` })).toHaveCount(1);
});

test('the file picker imports a TF.js model folder (model.json + shard) from this computer through the upload endpoint', async ({ page }) => {
  await page.goto(host.openUrl);
  await page.getByTestId('nav-model').click();
  const before = await page.getByTestId('model-item').count();
  await page.getByTestId('pick-model-folder').setInputFiles(SAMPLE_MODEL_DIR);
  const outcome = page.getByTestId('import-outcome');
  await expect(outcome).toHaveAttribute('data-kind', 'model', { timeout: 60_000 });
  // The built-in fashion_cnn's bytes: new to this library unless the catalog put them there.
  await expect(page.getByTestId('model-item')).toHaveCount((await outcome.getAttribute('data-existed')) === 'true' ? before : before + 1);
});
