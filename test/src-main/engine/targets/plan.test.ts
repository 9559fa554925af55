/**
 * The target's graph both ways: splitFusedSoftmaxes takes a fused softmax
 * out of its layer (what a run with a target plans and QAT trains), and
 * joinSplitSoftmaxes puts it back (the trained model a QAT run stores), so
 * a QAT run's library model has the user's layers and prepare splits it
 * again into the graph its records describe.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { joinSplitSoftmaxes, splitFusedSoftmaxes } from '../../../../src-main/engine/targets/plan.js';
import { act, dense, graphOf, input } from '../transform/graphs.js';

const x = input('x', [8]);
const hidden = dense('hidden', x, 6, { activation: 'softmax' });
const head = dense('head', hidden, 3, { activation: 'softmax' });

test('split then join gives the model back; the split graph has each softmax as its own node', () => {
  const graph = graphOf('two_softmaxes', x, hidden, head);
  const split = splitFusedSoftmaxes(graph);
  assert.deepEqual(split.nodes.map((n) => n.name), [x.name, 'hidden', 'hidden/softmax', 'head', 'head/softmax']);
  assert.equal(split.output, 'head/softmax');
  assert.deepEqual(nodeOf(split, 'head').inputs, ['hidden/softmax']);
  assert.deepEqual(joinSplitSoftmaxes(split), graph);
  // Only the named ones: the rest stays split.
  const partly = joinSplitSoftmaxes(split, new Set(['head/softmax']));
  assert.deepEqual(partly.nodes.map((n) => n.name), [x.name, 'hidden', 'hidden/softmax', 'head']);
  assert.equal(partly.output, 'head');
});

test('a standalone softmax that is not a split (its layer has another reader, or another name) stays', () => {
  const lin = dense('lin', x, 4);
  const other = act('lin/softmax', lin, 'softmax');
  const side = act('side', lin, 'relu');
  const graph = graphOf('kept', x, lin, other, side);
  assert.deepEqual(joinSplitSoftmaxes(graph), graph);
  const named = graphOf('named', x, lin, act('probs', lin, 'softmax'));
  assert.deepEqual(joinSplitSoftmaxes(named), named);
});

function nodeOf(graph: ReturnType<typeof graphOf>, name: string) {
  return graph.nodes.find((n) => n.name === name)!;
}
