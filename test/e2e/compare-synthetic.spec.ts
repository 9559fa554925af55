// Compare on a synthetic store (no engine needed): the runs table, the
// comparison's config diff, SQNR ranking, channel and histogram charts, the
// culprit button's error when the model has no weights, rename and delete.
import { expect, test } from '@playwright/test';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildSyntheticStore, type SyntheticStore } from '../../dist/bench/compare.js';
import { artifactsDir, startStudioHost, type RunningHost } from './studio-host.js';

let host: RunningHost;
let synth: SyntheticStore;
let work: string;

test.beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'studio-e2e-synth-'));
  const dbPath = path.join(work, 'studio.sqlite');
  synth = buildSyntheticStore(dbPath, { layers: 12, channelPattern: [16, 32, 48], histogramBins: 512 });
  host = await startStudioHost([], { dbPath });
});

test.afterAll(async () => {
  await host?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('compare two synthetic runs: diff, ranking, channel bars, histograms, culprit error, rename, delete', async ({ page }) => {
  const [perTensor, perChannel] = synth.runIds as [number, number];
  await page.goto(host.openUrl);
  await expect(page.getByTestId(`runs-row-${perTensor}`)).toBeVisible();
  await expect(page.getByTestId('compare-button')).toBeDisabled();

  // Filter, then clear.
  await page.getByTestId('runs-filter').fill('perch');
  await expect(page.getByTestId(`runs-row-${perTensor}`)).toBeHidden();
  await expect(page.getByTestId(`runs-row-${perChannel}`)).toBeVisible();
  await page.getByTestId('runs-filter').fill('');

  await page.getByTestId(`runs-select-${perTensor}`).check();
  await page.getByTestId(`runs-select-${perChannel}`).check();
  await page.getByTestId('compare-button').click();

  const diff = page.getByTestId('config-diff');
  await expect(diff).toContainText('Weights granularity');
  await expect(diff).toContainText('per-tensor');
  await expect(diff).toContainText('per-channel');
  await expect(diff.locator('tr[data-field]')).toHaveCount(1);

  await expect(page.getByTestId('sqnr-chart')).toHaveAttribute('data-layer-count', '12');
  await expect(page.getByTestId('sqnr-chart').locator('canvas')).toHaveCount(2);

  const channels = page.getByTestId('channel-chart');
  await expect(channels).toHaveAttribute('data-layer', synth.layers[0]!.name);
  await expect(channels).toHaveAttribute('data-channel-count', String(synth.layers[0]!.channels));
  // Another layer from the ranking table: its bars follow.
  await page.locator(`[data-testid="layer-ranking"] tr[data-layer="${synth.layers[1]!.name}"] td.name`).click();
  await expect(channels).toHaveAttribute('data-channel-count', String(synth.layers[1]!.channels));
  await channels.scrollIntoViewIfNeeded();
  await expect(channels.locator('canvas')).toHaveCount(1);

  const hist = page.getByTestId('histogram-chart');
  await hist.scrollIntoViewIfNeeded();
  await expect(hist.locator('canvas')).toHaveCount(2);
  await expect(hist.getByTestId('histogram-clipped')).toHaveCount(2);

  // The synthetic model has no weights: a re-run is refused with a readable reason.
  await page.getByTestId(`culprit-float-${synth.layers[1]!.name}`).click();
  await expect(page.getByTestId('error-banner')).toContainText('Could not start the re-run');

  await page.setViewportSize({ width: 1400, height: 3000 });
  for (const chart of await page.locator('.uplot-host').all()) await expect(chart.locator('canvas')).toHaveCount(1);
  await page.screenshot({ path: path.join(artifactsDir, 'compare-synthetic.png') });
  await page.setViewportSize({ width: 1400, height: 900 });

  // Rename and delete from Runs.
  await page.getByTestId('nav-runs').click();
  await page.getByTestId(`runs-rename-${perTensor}`).click();
  await page.getByTestId('runs-rename-input').fill('renamed_per_tensor');
  await page.getByTestId('runs-rename-input').press('Enter');
  await expect(page.getByTestId(`runs-row-${perTensor}`)).toContainText('renamed_per_tensor');
  await page.getByTestId(`runs-delete-${perTensor}`).click();
  await expect(page.getByTestId('confirm-delete')).toBeVisible();
  await page.getByTestId('confirm-delete-yes').click();
  await expect(page.getByTestId(`runs-row-${perTensor}`)).toHaveCount(0);
  await expect(page.getByTestId(`runs-row-${perChannel}`)).toBeVisible();
});
