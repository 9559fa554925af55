// Export from the Export view on the web host: a PTQ run of the bundled
// sample made in New run, then ONNX written into the host's export folder
// (`studio serve --export-dir`), followed through its progress to the
// verification report (onnxruntime vs the studio simulation, agreement
// ≥ 99.5%, every quantized tensor within one step in the layer diff). A path outside the folder is refused by the host with a clear
// error and writes nothing. TFLite's int8 input/output is not offered for a
// run with 16-bit activations. Screenshots: test-results/screenshots/export.png,
// export-layer-diff.png.
import { expect, test } from '@playwright/test';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { artifactsDir, root, startStudioHost, type RunningHost } from './studio-host.js';

const SAMPLE_MODEL = path.join(root, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json');
const SAMPLE_DATA = path.join(root, 'assets', 'sample', 'fashion-mnist');
const MODEL = existsSync(SAMPLE_MODEL) ? 'fashion_cnn_sample' : 'fashion_cnn';
const RUN_TIMEOUT = 150_000;

let host: RunningHost;
let exportDir: string;

test.beforeAll(async () => {
  exportDir = path.join(mkdtempSync(path.join(os.tmpdir(), 'studio-e2e-export-')), 'exports');
  host = await startStudioHost(['--export-dir', exportDir]);
});

test.afterAll(async () => {
  await host?.stop();
  rmSync(path.dirname(exportDir), { recursive: true, force: true });
});

test(`ONNX export of a PTQ run of ${MODEL}, verified in onnxruntime`, async ({ page }) => {
  test.skip(!existsSync(SAMPLE_DATA), `the bundled sample dataset is not in this build (${path.relative(root, SAMPLE_DATA)})`);
  test.setTimeout(RUN_TIMEOUT + 120_000);
  await page.goto(host.openUrl);

  // Before any run: the view says what to do.
  await page.getByTestId('nav-export').click();
  await expect(page.getByTestId('export-empty')).toBeVisible();

  if (MODEL !== 'fashion_cnn_sample') {
    await page.getByTestId('nav-model').click();
    await page.locator(`[data-testid="builtin-item"][data-builtin="${MODEL}"] [data-testid="builtin-add"]`).click();
  }
  await page.getByTestId('nav-new').click();
  await expect(page.getByTestId('new-run-model').locator('option', { hasText: MODEL })).not.toHaveCount(0);
  await page.getByTestId('new-run-model').selectOption({ label: MODEL });
  await page.getByTestId('new-run-kind').selectOption('ptq');
  await page.getByTestId('new-run-weight-granularity').selectOption('per-channel');
  await page.getByTestId('new-run-calibration').fill('256');
  await page.getByTestId('new-run-eval').fill('500');
  await expect(page.getByTestId('new-run-lint')).toHaveAttribute('data-linting', 'false');
  await page.getByTestId('start-run').click();
  const run = page.getByTestId('run-progress').first();
  await expect(run).toHaveAttribute('data-status', 'done', { timeout: RUN_TIMEOUT });
  const runId = await run.getAttribute('data-run-id');

  // The run's Export button in Runs opens it in the Export view.
  await page.getByTestId('nav-runs').click();
  await page.getByTestId(`runs-export-${runId}`).click();
  await expect(page.getByTestId('view-export')).toBeVisible();
  await expect(page.getByTestId('export-run')).toHaveValue(runId!);
  await expect(page.getByTestId('export-folder')).toContainText(exportDir);
  await expect(page.getByTestId('export-format-onnx')).toBeChecked();
  await expect(page.getByTestId('export-history-empty')).toBeVisible();

  // A name that climbs out of the folder is stopped in the page; an absolute path elsewhere by the host.
  const name = page.getByTestId('export-name');
  await name.fill('../escape');
  await expect(page.getByTestId('export-targets')).toContainText('cannot leave the export folder');
  await expect(page.getByTestId('export-start')).toBeDisabled();
  const outside = path.join(path.dirname(exportDir), 'outside');
  await name.fill(outside);
  await page.getByTestId('export-start').click();
  await expect(page.getByTestId('error-banner')).toContainText('is outside the export folder');
  expect(existsSync(`${outside}.onnx`)).toBe(false);

  // Into the folder: progress, then the verification report.
  await name.fill('sample_w8a8');
  await expect(page.getByTestId('export-targets')).toContainText('sample_w8a8.onnx');
  await page.getByTestId('export-start').click();
  const job = page.getByTestId('export-job').first();
  await expect(job).toBeVisible();
  await expect(job.getByTestId('export-phase')).toBeVisible();
  await expect(job).toHaveAttribute('data-status', 'done', { timeout: 120_000 });
  await expect(job.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '100');
  const agreement = Number(await job.getByTestId('export-agreement').getAttribute('data-value'));
  expect(agreement).toBeGreaterThanOrEqual(0.995);
  await expect(job.getByTestId('export-audit')).toHaveAttribute('data-ok', 'true');
  await expect(job.getByTestId('export-size')).toContainText('of the float model');
  // Layer by layer: every quantized tensor of the file within one step of the simulation, table and chart in the model's order.
  const diff = job.getByTestId('export-layer-diff');
  await expect(diff).toHaveAttribute('data-first-divergence', '');
  await expect(diff.getByTestId('export-layer-diff-verdict')).toContainText('Every quantized tensor within 1 step of the simulation');
  const rows = diff.getByTestId('export-layer-diff-row');
  const layers = await rows.evaluateAll((trs) => trs.map((tr) => [tr.getAttribute('data-layer'), Number(tr.getAttribute('data-max-steps'))] as const));
  expect(layers.length).toBeGreaterThanOrEqual(4);
  expect(layers[0]![0]).toMatch(/input/);
  for (const [layer, steps] of layers) expect(steps, `${layer}`).toBeLessThanOrEqual(1);
  await expect(diff.getByTestId('layer-diff-chart')).toHaveAttribute('data-points', String(layers.length));
  await diff.locator('details').evaluate((d) => ((d as HTMLDetailsElement).open = true));
  await diff.screenshot({ path: path.join(artifactsDir, 'export-layer-diff.png') });

  const file = path.join(exportDir, 'sample_w8a8.onnx');
  expect(statSync(file).size).toBeGreaterThan(0);
  expect(readdirSync(exportDir)).toEqual(['sample_w8a8.onnx']);
  await expect(page.getByTestId('export-history-row')).toHaveCount(1);
  // "Show in folder": the web host has no file manager, so it answers with the stored path.
  await job.getByTestId('export-show-in-folder').click();
  await expect(job.getByTestId('export-path')).toContainText(file);
  await page.screenshot({ path: path.join(artifactsDir, 'export.png'), fullPage: true });

  // The graph's "exported file vs simulation" overlay: run A's export diff on the model's layers.
  await page.getByTestId('nav-model').click();
  await page.getByTestId('model-item').filter({ hasText: MODEL }).first().click();
  await page.getByTestId('model-view-graph').click();
  await expect(page.getByTestId('graph-panel')).not.toHaveAttribute('data-painted', '0', { timeout: 30_000 });
  await page.getByTestId('graph-overlay').selectOption('export-diff');
  await page.getByTestId('graph-run-a').selectOption(runId!);
  const legend = page.getByTestId('graph-legend');
  await expect(legend).toHaveAttribute('data-overlay', 'export-diff');
  const drawn = await page.getByTestId('graph-node').evaluateAll((els) => els.map((e) => e.getAttribute('data-node')));
  const marked = layers.filter(([layer]) => drawn.includes(layer));
  expect(marked.length).toBeGreaterThanOrEqual(3);
  await expect(legend).toHaveAttribute('data-marked', String(marked.length));
  for (const [layer] of marked) await expect(page.locator(`[data-testid="graph-node"][data-node="${layer}"]`)).toHaveAttribute('data-mark', /^(exact|\d+\.\d dB)$/);
  await page.getByTestId('nav-export').click();

  // The same name again: the host refuses, the page asks before replacing.
  await page.getByTestId('export-start').click();
  await expect(page.getByTestId('export-overwrite')).toContainText(file);
  await page.getByTestId('export-overwrite-yes').click();
  await expect(page.getByTestId('export-job').first()).toHaveAttribute('data-status', 'done', { timeout: 120_000 });
  await expect(page.getByTestId('export-history-row')).toHaveCount(2);
  expect(readdirSync(exportDir)).toEqual(['sample_w8a8.onnx']);

  // TFLite's int8 input/output: offered for the 8-bit run, not for a run with 16-bit activations (its file is 16x8, float ends only).
  await page.getByTestId('nav-new').click();
  await page.getByTestId('new-run-act-bits').fill('16');
  await page.getByTestId('new-run-act-symmetric').setChecked(true);
  await page.getByTestId('new-run-calibration').fill('64');
  await page.getByTestId('new-run-eval').fill('64');
  await expect(page.getByTestId('new-run-lint')).toHaveAttribute('data-linting', 'false');
  await page.getByTestId('start-run').click();
  const run16 = page.getByTestId('run-progress').first();
  await expect(run16).not.toHaveAttribute('data-run-id', runId!);
  await expect(run16).toHaveAttribute('data-status', 'done', { timeout: RUN_TIMEOUT });
  const run16Id = await run16.getAttribute('data-run-id');
  await page.getByTestId('nav-export').click();
  await page.getByTestId('export-format-tflite').check();
  const io = page.getByTestId('export-integer-io');
  await expect(io).toBeEnabled();
  await page.getByTestId('export-run').selectOption(run16Id!);
  await expect(io).toBeDisabled();
  await expect(io).not.toBeChecked();
  await expect(page.locator('label', { has: io })).toHaveAttribute('title', /activations are 16-bit: its TFLite file is 16x8/);
  await page.getByTestId('export-run').selectOption(runId!);
  await expect(io).toBeEnabled();
});
