// Importing through the window, against the web host on a temporary database:
//  1. the Import panel's path field: a model by reference (its summary shows
//     at once) and a dataset with mean/std preprocessing;
//  2. drag and drop: model.json and its weight shard, built in the page from
//     bytes (a browser knows no path, so they are uploaded with progress and
//     imported by copy), then the same files again, which name the entry
//     already there. Screenshot: test-results/screenshots/import.png.
import { _electron as electron, expect, test, type Page } from '@playwright/test';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { artifactsDir, root, startStudioHost, type RunningHost } from './studio-host.js';

const SAMPLE_DIR = path.join(root, 'assets', 'sample', 'models', 'fashion_cnn');
const SAMPLE_DATA = path.join(root, 'assets', 'sample', 'fashion-mnist');
const SHARD = 'group1-shard1of1.bin';

let host: RunningHost;
let work: string;

test.beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'studio-e2e-import-'));
  // The web host imports by path only inside the folders it was started with (and its uploads folder).
  host = await startStudioHost(['--import-dir', work, '--import-dir', SAMPLE_DATA]);
});

test.afterAll(async () => {
  await host?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** The sample model's JSON with another model name: same network, bytes the store has not seen. */
function variantJson(name: string): string {
  const json = JSON.parse(readFileSync(path.join(SAMPLE_DIR, 'model.json'), 'utf8')) as { modelTopology: { config: { name: string } } };
  json.modelTopology.config.name = name;
  return JSON.stringify(json);
}

async function expectSampleLayers(page: Page, name: string): Promise<void> {
  await expect(page.getByTestId('model-detail-name')).toHaveText(name);
  // The sample: input + conv/BN/ReLU/pool twice, flatten, two dense = 12 rows, two of them conv2d.
  await expect(page.getByTestId('layer-row')).toHaveCount(12);
  await expect(page.getByTestId('layer-row').filter({ has: page.locator('span.op', { hasText: /^conv2d$/i }) })).toHaveCount(2);
}

test('the path field imports a model by reference and a dataset with preprocessing', async ({ page }) => {
  const dir = path.join(work, 'by-path');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'model.json'), variantJson('by_path'));
  writeFileSync(path.join(dir, SHARD), readFileSync(path.join(SAMPLE_DIR, SHARD)));

  await page.goto(host.openUrl);
  await page.getByTestId('nav-model').click();
  const panel = page.getByTestId('import-panel');
  // The web host has no file dialog: no Browse button, the path field instead.
  await expect(panel.getByTestId('import-model-path')).toBeVisible();
  await expect(panel.getByTestId('import-model-browse')).toHaveCount(0);

  await panel.getByTestId('import-model-path').fill(path.join(dir, 'model.json'));
  await panel.getByTestId('import-mode-reference').check();
  await panel.getByTestId('import-model-name').fill('Path CNN');
  await panel.getByTestId('import-model-submit').click();
  await expect(panel.getByTestId('import-outcome')).toHaveAttribute('data-existed', 'false');
  await expectSampleLayers(page, 'Path CNN');
  await expect(page.getByTestId('model-item').filter({ hasText: 'Path CNN' })).toHaveCount(1);

  // A path that is not there: the error names it and nothing is added.
  const count = await page.getByTestId('model-item').count();
  await panel.getByTestId('import-model-path').fill(path.join(dir, 'missing.h5'));
  await panel.getByTestId('import-model-submit').click();
  await expect(panel.getByTestId('error-banner')).toContainText(`${path.join(dir, 'missing.h5')}: not found`);
  await expect(page.getByTestId('model-item')).toHaveCount(count);

  test.skip(!existsSync(SAMPLE_DATA), 'the bundled sample dataset is not in this build');
  await panel.getByTestId('import-dataset-path').fill(SAMPLE_DATA);
  await panel.getByTestId('import-dataset-name').fill('fm normalized');
  await panel.locator('details.pre summary').click();
  await panel.getByTestId('import-mean').fill('0.286');
  await panel.getByTestId('import-std').fill('0.353');
  await panel.getByTestId('import-dataset-submit').click();
  await expect(panel.getByTestId('import-outcome')).toHaveAttribute('data-kind', 'dataset');
  await expect(panel.getByTestId('import-outcome')).toContainText('Imported dataset fm normalized');
  await page.getByTestId('nav-new').click();
  await expect(page.getByTestId('new-run-dataset').locator('option', { hasText: 'fm normalized' })).toHaveCount(1);
});

/** Drops files built from bytes on the window, as a browser drop from the desktop would (no paths). */
async function dropFiles(page: Page, files: { name: string; base64: string }[]): Promise<void> {
  const transfer = await page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const f of list) {
      const bin = atob(f.base64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      dt.items.add(new File([bytes], f.name, { type: 'application/octet-stream' }));
    }
    return dt;
  }, files);
  await page.dispatchEvent('main', 'dragenter', { dataTransfer: transfer });
  await expect(page.getByTestId('drop-overlay')).toBeVisible();
  await page.dispatchEvent('main', 'dragover', { dataTransfer: transfer });
  await page.dispatchEvent('main', 'drop', { dataTransfer: transfer });
  await expect(page.getByTestId('drop-overlay')).toHaveCount(0);
}

/** Records every progress label and bar value the Import panel shows from now on. */
async function watchProgress(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: { label: string; value: string | null }[] = [];
    (window as unknown as { importProgressSeen: typeof seen }).importProgressSeen = seen;
    new MutationObserver(() => {
      const el = document.querySelector('[data-testid="import-progress"]');
      const bar = el?.querySelector('[role="progressbar"]');
      if (el && bar) seen.push({ label: bar.getAttribute('aria-label') ?? '', value: bar.getAttribute('aria-valuenow') });
    }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  });
}

test('drag and drop uploads the files with progress and imports them by copy; the same files again name the stored entry', async ({ page }) => {
  const files = [
    { name: 'model.json', base64: Buffer.from(variantJson('dropped')).toString('base64') },
    { name: SHARD, base64: readFileSync(path.join(SAMPLE_DIR, SHARD)).toString('base64') },
  ];
  await page.goto(host.openUrl);
  await page.getByTestId('nav-runs').click();
  await watchProgress(page);
  await dropFiles(page, files);

  // The drop shows the Model view, where the upload's progress and the summary appear.
  await expect(page.getByTestId('view-model')).toBeVisible();
  const outcome = page.getByTestId('import-outcome');
  await expect(outcome).toHaveAttribute('data-existed', 'false', { timeout: 60_000 });
  await expectSampleLayers(page, 'uploaded model');
  const seen = await page.evaluate(() => (window as unknown as { importProgressSeen: { label: string; value: string | null }[] }).importProgressSeen);
  expect(seen.some((s) => s.label === `Uploading ${SHARD}…`), JSON.stringify(seen)).toBe(true);
  const uploadValues = seen.filter((s) => s.label.startsWith('Uploading') && s.value !== null).map((s) => Number(s.value));
  expect(uploadValues.length, JSON.stringify(seen)).toBeGreaterThan(0);
  expect(uploadValues.every((v, i) => v >= 0 && v <= 100 && (i === 0 || v >= uploadValues[i - 1]!))).toBe(true);
  await page.screenshot({ path: path.join(artifactsDir, 'import.png') });

  // Copied into models/<sha256>/ beside the database; the upload itself is gone.
  const dataDir = path.dirname(host.dbPath);
  const id = await outcome.getAttribute('data-id');
  expect(readdirSync(path.join(dataDir, 'models')).length).toBe(1);
  expect(existsSync(path.join(dataDir, 'imports')) ? readdirSync(path.join(dataDir, 'imports')) : []).toEqual([]);

  // The same bytes again: no new entry, the stored one is named.
  const count = await page.getByTestId('model-item').count();
  await dropFiles(page, files);
  await expect(outcome).toHaveAttribute('data-existed', 'true', { timeout: 60_000 });
  await expect(outcome).toHaveAttribute('data-id', id!);
  await expect(page.getByTestId('model-item')).toHaveCount(count);
});

test('dropped dataset files are uploaded together and imported from their folder', async ({ page }) => {
  test.skip(!existsSync(SAMPLE_DATA), 'the bundled sample dataset is not in this build');
  const files = ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'].map((name) => ({ name, base64: readFileSync(path.join(SAMPLE_DATA, name)).toString('base64') }));
  await page.goto(host.openUrl);
  await dropFiles(page, files);
  const outcome = page.getByTestId('import-outcome');
  await expect(outcome).toHaveAttribute('data-kind', 'dataset', { timeout: 60_000 });
  await expect(outcome).toHaveAttribute('data-existed', 'false');
  // The upload folder is the dataset now: it stays under imports/ beside the database.
  const imports = path.join(path.dirname(host.dbPath), 'imports');
  const batches = readdirSync(imports);
  expect(batches.length).toBe(1);
  expect(readdirSync(path.join(imports, batches[0]!)).sort()).toEqual(files.map((f) => f.name));
  // Named for what the file names share.
  await expect(outcome).toContainText('Imported dataset t10k');
  await page.getByTestId('nav-new').click();
  await expect(page.getByTestId('new-run-dataset').locator('option', { hasText: /^t10k \(2000\)$/ })).toHaveCount(1);
});

// The desktop app, where the Electron binary is installed (skipped otherwise,
// as in electron.spec.ts): Browse goes through app.pickPath to Electron's open
// dialog (answered here by replacing dialog.showOpenDialog in the main
// process), and the preload exposes the dropped-file path lookup.
function electronBinary(): string | null {
  const dir = path.join(root, 'node_modules', 'electron');
  const pathFile = path.join(dir, 'path.txt');
  if (!existsSync(pathFile)) return null;
  const bin = path.join(dir, 'dist', readFileSync(pathFile, 'utf8'));
  return existsSync(bin) ? bin : null;
}

test('desktop: Browse opens the native dialog and the picked model imports', async () => {
  const binary = electronBinary();
  test.skip(!binary, 'Electron binary not installed (node_modules/electron/dist missing; `npx install-electron` needs GitHub)');
  const dir = path.join(work, 'desktop');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'model.json'), variantJson('desktop_pick'));
  writeFileSync(path.join(dir, SHARD), readFileSync(path.join(SAMPLE_DIR, SHARD)));
  const dbDir = mkdtempSync(path.join(os.tmpdir(), 'studio-electron-'));
  const db = path.join(dbDir, 'studio.sqlite');
  const app = await electron.launch({ executablePath: binary!, args: [root, '--db', db], cwd: root });
  try {
    await app.evaluate(({ dialog }, picked) => {
      dialog.showOpenDialog = (async () => ({ canceled: false, filePaths: [picked] })) as typeof dialog.showOpenDialog;
    }, path.join(dir, 'model.json'));
    const win = await app.firstWindow();
    expect(await win.evaluate(() => typeof (window as { studioFiles?: { pathForFile?: unknown } }).studioFiles?.pathForFile)).toBe('function');
    await win.getByTestId('nav-model').click();
    await win.getByTestId('import-model-browse').click();
    await expect(win.getByTestId('import-model-path')).toHaveValue(path.join(dir, 'model.json'));
    await win.getByTestId('import-model-submit').click();
    // Named after its folder, as model.json files are.
    await expectSampleLayers(win, 'desktop');
  } finally {
    await app.close();
    rmSync(dbDir, { recursive: true, force: true });
  }
});
