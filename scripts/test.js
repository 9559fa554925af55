#!/usr/bin/env node
// Runs every test: the compiled node:test suites (engine, store, API, hosts,
// renderer data helpers), then the Playwright end-to-end tests in Debian's
// Chromium. Prints one closing line "tests: N passed, N failed, N skipped".
// Usage: node scripts/test.js [--unit-only | --e2e-only] [path filter]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit-only');
const e2eOnly = args.includes('--e2e-only');
const filter = args.find((a) => !a.startsWith('--'));
const totals = { passed: 0, failed: 0, skipped: 0 };
let failedStep = false;

function testFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'e2e' || name === 'fixtures' ? [] : testFiles(full);
    return name.endsWith('.test.js') ? [full] : [];
  });
}

if (!e2eOnly) {
  const files = testFiles(path.join(root, 'dist', 'test')).filter((f) => !filter || f.includes(filter)).sort();
  const tap = path.join(mkdtempSync(path.join(os.tmpdir(), 'studio-test-')), 'unit.tap');
  console.log(`unit: ${files.length} test files`);
  const r = spawnSync(
    process.execPath,
    // Two files at a time: much of a file's time is single-threaded (TF.js wasm references, SQLite, child
    // processes), so the second core is otherwise idle; node's default is one file on a 2-core machine.
    ['--test', '--test-concurrency=2', '--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tap}`, ...files],
    { stdio: 'inherit', cwd: root },
  );
  const out = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
  rmSync(path.dirname(tap), { recursive: true, force: true });
  const count = (key) => Number(out.match(new RegExp(`^# ${key} (\\d+)$`, 'm'))?.[1] ?? 0);
  totals.passed += count('pass');
  totals.failed += count('fail') + count('cancelled');
  totals.skipped += count('skipped') + count('todo');
  if (r.status !== 0) failedStep = true;
}

if (!unitOnly) {
  const report = path.join(mkdtempSync(path.join(os.tmpdir(), 'studio-e2e-')), 'results.json');
  const cli = path.join(root, 'node_modules', '@playwright', 'test', 'cli.js');
  const r = spawnSync(process.execPath, [cli, 'test', '-c', 'test/e2e/playwright.config.ts', ...(filter ? [filter] : [])], {
    stdio: 'inherit',
    cwd: root,
    env: { ...process.env, PLAYWRIGHT_JSON_OUTPUT_NAME: report },
  });
  if (existsSync(report)) {
    const json = JSON.parse(readFileSync(report, 'utf8'));
    const stats = json.stats ?? {};
    for (const line of skippedWithReasons(json.suites ?? [])) console.log(`skipped: ${line}`);
    totals.passed += (stats.expected ?? 0) + (stats.flaky ?? 0);
    totals.failed += stats.unexpected ?? 0;
    totals.skipped += stats.skipped ?? 0;
  }
  rmSync(path.dirname(report), { recursive: true, force: true });
  if (r.status !== 0) failedStep = true;
}

console.log(`\ntests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failedStep || totals.failed > 0 ? 1 : 0);

/** "title — reason" for every skipped end-to-end test, from Playwright's JSON report. */
function skippedWithReasons(suites) {
  const out = [];
  const walk = (suite) => {
    for (const spec of suite.specs ?? []) {
      for (const t of spec.tests ?? []) {
        if (t.status !== 'skipped') continue;
        const reason = (t.annotations ?? []).filter((a) => a.type === 'skip').map((a) => a.description).filter(Boolean).join('; ');
        out.push(`${spec.title}${reason ? ` — ${reason}` : ''}`);
      }
    }
    for (const child of suite.suites ?? []) walk(child);
  };
  for (const s of suites) walk(s);
  return out;
}
