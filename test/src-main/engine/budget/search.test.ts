/**
 * The accuracy-budget search on evaluators whose answers are known in
 * closed form: each layer costs a fixed accuracy at each rung (additive
 * drops), scores are minus that cost, so the smallest model meeting the
 * budget can be worked out by hand and by brute force.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { modelBytes, overridesFor, parseMenu } from '../../../../src-main/engine/budget/menu.js';
import { BudgetCancelledError, searchBudget, type BudgetEvaluation } from '../../../../src-main/engine/budget/search.js';

test('parseMenu: a ladder from the smallest to the largest choice; bad items named', () => {
  assert.deepEqual(
    parseMenu('w4,w8,a16,float').map((r) => r.label),
    ['w4a8', 'w8a8', 'w8a16', 'float'],
  );
  assert.deepEqual(
    parseMenu('float, W8').map((r) => r.label),
    ['w8a8', 'float'],
  );
  assert.deepEqual(
    parseMenu('w2,w4,w8').map((r) => r.label),
    ['w2a8', 'w4a8', 'w8a8'],
  );
  assert.throws(() => parseMenu('w4,int8'), /"int8" is not a per-layer choice/);
  assert.throws(() => parseMenu('w8'), /one choice per layer \(w8a8\)/);
  assert.throws(() => parseMenu(' , '), /empty/);
  const ladder = parseMenu('w4,w8,a16,float');
  assert.deepEqual(overridesFor(new Map([['a', 0], ['b', 2], ['c', 3]]), ladder), [
    { layer: 'a', weightBits: 4, activationBits: 8 },
    { layer: 'b', weightBits: 8, activationBits: 16 },
    { layer: 'c', float: true },
  ]);
  // 100 kernel params at 4 bits + 10 biases at 32, and 100 at 32 + 10 at 32.
  assert.equal(modelBytes(new Map([['a', 0], ['c', 3]]), ladder, new Map([['a', { kernel: 100, bias: 10 }], ['c', { kernel: 100, bias: 10 }]])), (400 + 320 + 3200 + 320) / 8);
});

/** Float 0.90; layer L at rung r costs cost[L][r] of accuracy, summed. */
function additive(cost: Record<string, number[]>) {
  let evaluations = 0;
  return {
    get evaluations() {
      return evaluations;
    },
    evaluate: async (levels: ReadonlyMap<string, number>): Promise<BudgetEvaluation> => {
      evaluations++;
      let drop = 0;
      const scores = new Map<string, number | null>();
      for (const [l, r] of levels) {
        drop += cost[l]![r]!;
        scores.set(l, -cost[l]![r]!);
      }
      return { accuracy: 0.9 - drop, floatAccuracy: 0.9, scores, ref: evaluations };
    },
  };
}

test('greedy raises the most costly layer first, refinement lowers what was not needed: the smallest model within the budget', async () => {
  const ladder = parseMenu('w4,w8,float');
  // conv1 is expensive at w4 (0.02), dense hardly (0.001); conv2 in between (0.006).
  const cost = { conv1: [0.02, 0.001, 0], conv2: [0.006, 0.0005, 0], dense: [0.001, 0.0002, 0] };
  const params = new Map(Object.keys(cost).map((l) => [l, { kernel: 1000, bias: 0 }]));
  const ev = additive(cost);
  const steps: string[] = [];
  const r = await searchBudget({ layers: Object.keys(cost), ladder, params, maxDrop: 0.01, maxSteps: 40, evaluate: ev.evaluate, onStep: (s) => steps.push(`${s.phase}:${s.layer ?? ''}:${s.to ?? ''}:${s.meets}`) });
  // Start: drop 0.027. Raise conv1 → w8: 0.008 ≤ 0.01, met. Refinement tries conv1 back to w4 (0.027): undone.
  assert.deepEqual(steps, ['start:::false', 'raise:conv1:w8a8:true', 'lower:conv1:w4a8:false']);
  assert.equal(r.met, true);
  assert.deepEqual([...r.bestLevels], [['conv1', 1], ['conv2', 0], ['dense', 0]]);
  assert.equal(r.best.bytes, (1000 * 8 + 2000 * 4) / 8);
  assert.ok(Math.abs(r.best.drop - 0.008) < 1e-12);
  // Brute force over all 27 assignments: nothing smaller meets the budget.
  let smallest = Infinity;
  for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) for (let c = 0; c < 3; c++) {
    const drop = cost.conv1[a]! + cost.conv2[b]! + cost.dense[c]!;
    const bits = [a, b, c].map((x) => [4, 8, 32][x]!).reduce((s, x) => s + x * 1000, 0) / 8;
    if (drop <= 0.01) smallest = Math.min(smallest, bits);
  }
  assert.equal(r.best.bytes, smallest);
});

test('a budget met at the start takes one evaluation; one that cannot be met says so and keeps the most accurate step', async () => {
  const ladder = parseMenu('w4,w8');
  const params = new Map([['a', { kernel: 10, bias: 0 }], ['b', { kernel: 10, bias: 0 }]]);
  const easy = additive({ a: [0.001, 0], b: [0.001, 0] });
  const r1 = await searchBudget({ layers: ['a', 'b'], ladder, params, maxDrop: 0.005, maxSteps: 10, evaluate: easy.evaluate });
  assert.equal(r1.met, true);
  assert.equal(r1.steps.length, 1);
  // Every layer at w8 still drops 0.02: not met after raising both.
  const hard = additive({ a: [0.05, 0.01], b: [0.03, 0.01] });
  const r2 = await searchBudget({ layers: ['a', 'b'], ladder, params, maxDrop: 0.005, maxSteps: 10, evaluate: hard.evaluate });
  assert.equal(r2.met, false);
  assert.match(r2.reason!, /cannot be met: with every layer w8a8 the drop is still 2\.00 pt/);
  assert.equal(r2.steps.length, 3);
  assert.deepEqual([...r2.bestLevels], [['a', 1], ['b', 1]]);
  // The step limit ends a search and says so.
  const r3 = await searchBudget({ layers: ['a', 'b'], ladder, params, maxDrop: 0.005, maxSteps: 2, evaluate: additive({ a: [0.05, 0.01], b: [0.03, 0.01] }).evaluate });
  assert.match(r3.reason!, /step limit/);
});

test('cancel ends the search between steps; bad input refused', async () => {
  const ladder = parseMenu('w4,w8');
  const params = new Map([['a', { kernel: 10, bias: 0 }]]);
  let n = 0;
  await assert.rejects(
    searchBudget({ layers: ['a'], ladder, params, maxDrop: 0, maxSteps: 10, cancelled: () => n >= 1, evaluate: async () => ({ accuracy: 0.5, floatAccuracy: 0.9, scores: new Map(), ref: ++n }) }),
    BudgetCancelledError,
  );
  await assert.rejects(searchBudget({ layers: [], ladder, params, maxDrop: 0.01, maxSteps: 10, evaluate: additive({}).evaluate }), /no quantized layer/);
  await assert.rejects(searchBudget({ layers: ['a'], ladder, params, maxDrop: -1, maxSteps: 10, evaluate: additive({ a: [0, 0] }).evaluate }), /drop of 0 or more/);
});
