// The studio shell in a real browser through the web host: it loads, names
// the active backend, lists the bundled models, and refuses a missing token.
import { expect, test } from '@playwright/test';
import path from 'node:path';
import { artifactsDir, startStudioHost, type RunningHost } from './studio-host.js';

let host: RunningHost;

test.beforeAll(async () => {
  host = await startStudioHost();
});

test.afterAll(async () => {
  await host?.stop();
});

test('the shell loads, shows the backend and lists the bundled models', async ({ page }) => {
  await page.goto(host.openUrl);
  // The token is traded for a cookie and dropped from the address bar.
  await expect(page).toHaveURL(host.url);
  await expect(page.getByTestId('status-backend')).toContainText(/wasm|cpu|tensorflow/);
  await expect(page.getByTestId('status-db')).toContainText('studio.sqlite');
  await expect(page.getByTestId('runs-empty')).toBeVisible();
  await page.getByTestId('nav-model').click();
  await expect(page.getByTestId('model-list')).toContainText('fashion_cnn_sample');
  await page.screenshot({ path: path.join(artifactsDir, 'shell-model.png'), fullPage: true });
});

test('a request without the token is refused with a readable reason', async ({ page }) => {
  const response = await page.goto(host.url);
  expect(response?.status()).toBe(401);
  await expect(page.locator('body')).toContainText('missing token');
});
