/**
 * The engine worker started before the CLI's imports (src-main/jobs/engine-spawn.ts):
 * the real worker thread, adopted by an EngineHost, which then answers a
 * quick call; the worker's early `ready` message (sent before the host
 * listened) is not lost. Commands that never open the studio start none,
 * and a worker started for another backend is not adopted.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { adoptEarlyWorker, prestartEngineWorker } from '../../../src-main/jobs/engine-spawn.js';
import { EngineHost } from '../../../src-main/jobs/engine-host.js';

const argv = (...args: string[]) => ['node', 'studio.js', ...args];

describe('engine worker started early', () => {
  const hosts: EngineHost[] = [];
  after(async () => {
    for (const h of hosts) await h.close();
  });

  test('--version, --help and no command start no worker', () => {
    for (const args of [[], ['--version'], ['-V'], ['calibrate', '--help'], ['help']]) {
      prestartEngineWorker(argv(...args));
      assert.equal(adoptEarlyWorker('auto'), null, args.join(' '));
    }
  });

  test('a process that never opens the studio exits without waiting for the worker', () => {
    const spawnModule = new URL('../../../src-main/jobs/engine-spawn.js', import.meta.url).href;
    const code = `const { prestartEngineWorker } = await import(${JSON.stringify(spawnModule)}); prestartEngineWorker(['node', 'studio.js', 'calibrate']); console.log('left');`;
    const t = performance.now();
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'left');
    assert.ok(performance.now() - t < 15_000, 'not held by the worker');
  });

  test('a command starts one; the host adopts it after its ready message was sent, and it answers', async () => {
    prestartEngineWorker(argv('runs', '--json'));
    // Let the worker load and announce itself before anyone listens.
    await new Promise((r) => setTimeout(r, 3000));
    const host = new EngineHost('auto');
    hosts.push(host);
    const backend = await host.start();
    assert.ok(backend.name, 'the buffered ready message resolved start()');
    assert.equal(adoptEarlyWorker('auto'), null, 'handed over once');
    const job = await host.runJob(1, 'no-such-job', {}).then(
      () => 'done',
      (e: Error) => e.message,
    );
    assert.match(job, /unknown job kind "no-such-job"/);
  });

  test('--backend names the worker\'s backend; another backend is not adopted', () => {
    prestartEngineWorker(argv('calibrate', '--backend=cpu', '--model', '1'));
    assert.equal(adoptEarlyWorker('wasm'), null);
    prestartEngineWorker(argv('calibrate', '--backend', 'bogus'));
    assert.equal(adoptEarlyWorker('auto'), null, 'an unknown backend is left to the CLI to refuse');
  });
});
