/**
 * QAT's simulated kernels in plain JS (qat/simulated-kernels.ts) against the
 * kernel hook of the TF.js forward pass (qat/hooks.ts), bit for bit: fq(W·s)/s
 * with s = γ/√(σ² + ε) for the layers a BatchNorm folds into, fq(W) for the
 * others, per channel and per tensor, on the bundled CNN (with BatchNorm
 * statistics that make s matter) and on fashion_dwsep (depthwise kernels on
 * their [kh,kw,in·mult] view).
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import { isWeighted, type Graph } from '../../../../src-main/engine/graph/types.js';
import { qatHooks } from '../../../../src-main/engine/qat/hooks.js';
import { makeQuantizers } from '../../../../src-main/engine/qat/run.js';
import { qatSimulatedKernels } from '../../../../src-main/engine/qat/simulated-kernels.js';
import { foldBatchNorm } from '../../../../src-main/engine/transform/fold-batchnorm.js';
import { planQuantization } from '../../../../src-main/engine/transform/plan.js';
import { builtinModel } from '../../../../src-main/io/models/builtins.js';
import { config } from '../ptq/ptq-fixtures.js';
import { cnnWithBnStats } from './qat-graphs.js';

before(async () => {
  await initBackend('wasm');
});

function compare(graph: Graph, granularity: 'per-channel' | 'per-tensor'): number {
  const cfg = config({ weights: { bits: 8, symmetric: true, narrowRange: true, granularity } });
  const { graph: folded, folded: records } = foldBatchNorm(graph);
  const plan = planQuantization(folded, cfg);
  const runtime = new GraphRuntime(graph, { trainable: false });
  try {
    const q = makeQuantizers(plan, cfg);
    const hooks = qatHooks(graph, runtime, plan, records, q);
    const js = qatSimulatedKernels(graph, plan, records);
    let compared = 0;
    for (const n of graph.nodes) {
      if (!isWeighted(n) || !q.weights.has(n.name)) continue;
      const k = n.weights.kernel;
      const ref = tf.tidy(() => Float32Array.from(hooks.weight!(n, 'kernel', tf.tensor(k.values, k.shape)).dataSync() as Float32Array));
      const got = js.get(n.name)!;
      const a = new Uint32Array(got.buffer, got.byteOffset, got.length);
      const b = new Uint32Array(ref.buffer);
      const at = a.findIndex((v, i) => v !== b[i]);
      assert.equal(at, -1, `${graph.name} ${n.name} (${granularity}) value ${at}: JS ${got[at]}, TF.js hook ${ref[at]}`);
      compared += got.length;
    }
    return compared;
  } finally {
    runtime.dispose();
  }
}

test("QAT's kernels in plain JS equal the TF.js forward pass's kernel hook bit for bit (folded BN scale, per channel and per tensor)", () => {
  let n = 0;
  for (const graph of [cnnWithBnStats(), builtinModel('fashion_dwsep').build()]) {
    n += compare(graph, 'per-channel');
    n += compare(graph, 'per-tensor');
  }
  console.log(`QAT kernels JS vs TF.js hook: ${n} values, all bits equal`);
  assert.ok(n > 800_000);
});
