// The run detail's accuracy-recovery sections, from stored summaries (as the engine writes them, and older or partial ones).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_LINES, recoverySections } from '../../../../src-renderer/lib/data/recovery-summary.js';

test('no recovery record: no section', () => {
  assert.deepEqual(recoverySections({}), []);
  assert.deepEqual(recoverySections({ recovery: null }), []);
  assert.deepEqual(recoverySections(undefined), []);
});

test('CLE, high-bias absorption, bias correction and AdaRound, each a short section', () => {
  const summary = {
    recovery: {
      cle: {
        relu6: 'as-relu',
        equalized: [{ first: 'conv1', second: 'conv2', scaleMin: 0.5, scaleMax: 2.25 }],
        skipped: [{ first: 'conv2', second: 'dense', reason: 'a sigmoid between them' }],
        relu6Replaced: ['relu6_1'],
        sweeps: 3,
        converged: true,
      },
      highBiasAbsorption: { absorbed: [], skipped: [] },
      biasCorrection: { kind: 'empirical', layers: [{ layer: 'conv1', shift: [0.1], maxAbs: 0.0123 }], skipped: [{ layer: 'dense', reason: 'it reads the model input' }] },
      adaround: {
        iterations: 2000,
        batchSize: 32,
        regularization: 0.01,
        samples: 1000,
        layers: [{ layer: 'conv1', weights: 200, mseNearest: 0.004, mseAdaround: 0.001, roundedUp: 10, roundedDown: 30, seconds: 4.26, rounding: 'AAAA' }],
        seconds: 9.5,
      },
    },
  };
  assert.deepEqual(recoverySections(summary), [
    { title: 'Cross-layer equalization', lines: ['1 pair equalized in 3 sweeps; ReLU6 → ReLU at relu6_1', 'conv1 → conv2: scales 0.500..2.25', 'skipped conv2 → dense: a sigmoid between them'] },
    { title: 'High-bias absorption', lines: ['no pair'] },
    { title: 'Bias correction (empirical)', lines: ['conv1: max |shift| 0.0123', 'not corrected dense: it reads the model input'] },
    {
      title: 'AdaRound',
      lines: ['1 layer, 2000 steps of 32 samples each (λ 0.01, 1000 samples held), 9.5 s', 'conv1: output MSE 0.00400 nearest → 0.00100; 5.0 % up, 15.0 % down from nearest; 4.3 s'],
    },
  ]);
});

test('long lists are cut after MAX_LINES with the count left; malformed entries read as "?"', () => {
  const layers = Array.from({ length: MAX_LINES + 3 }, (_, i) => ({ layer: `l${i}`, maxAbs: 1 }));
  const [bc] = recoverySections({ recovery: { biasCorrection: { kind: 'analytic', layers, skipped: 'nonsense' } } });
  assert.equal(bc!.lines.length, MAX_LINES + 1);
  assert.equal(bc!.lines.at(-1), '… and 3 more');
  const [cle] = recoverySections({ recovery: { cle: { equalized: [{}], converged: false } } });
  assert.deepEqual(cle!.lines, ['1 pair equalized in ? sweeps (not converged)', '? → ?: scales –..–']);
});
