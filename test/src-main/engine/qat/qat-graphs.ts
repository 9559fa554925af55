/** Models the QAT tests share. */
import type { Graph } from '../../../../src-main/engine/graph/types.js';
import { builtinModel } from '../../../../src-main/io/models/builtins.js';

/** fashion_cnn with non-trivial BatchNorm statistics, so folding changes the numbers. */
export function cnnWithBnStats(): Graph {
  const g = builtinModel('fashion_cnn').build();
  let seed = 1;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  for (const n of g.nodes) {
    if (n.op !== 'batchNorm') continue;
    const w = n.weights as Record<string, { values: Float32Array } | undefined>;
    w['gamma']?.values.forEach((_, i, a) => (a[i] = 0.5 + rand() * 1.5));
    w['beta']?.values.forEach((_, i, a) => (a[i] = rand() - 0.5));
    w['movingMean']!.values.forEach((_, i, a) => (a[i] = (rand() - 0.5) * 0.2));
    w['movingVariance']!.values.forEach((_, i, a) => (a[i] = 0.05 + rand() * 0.5));
  }
  return g;
}
