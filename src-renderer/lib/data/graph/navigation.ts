/**
 * Keyboard moves in the graph view (laid out top to bottom): ArrowDown to a
 * node this one feeds, ArrowUp to one that feeds it (the leftmost first),
 * ArrowLeft / ArrowRight to the node beside it among those fed by the same
 * node (the other branch of a residual block, a squeeze-and-excite side
 * path). Pure, no DOM.
 */
import { adjacency } from './model-graph.js';

export type NavKey = 'ArrowDown' | 'ArrowUp' | 'ArrowLeft' | 'ArrowRight';

export interface NavGraph {
  edges: readonly { source: string; target: string }[];
  /** Horizontal position of each node's centre (to order branches left to right). */
  x: ReadonlyMap<string, number>;
}

/** Where `key` moves from `current`; `from` is the node last moved down from (whose branches Left/Right walk), else any feeder. */
export function moveFrom(g: NavGraph, current: string, key: NavKey, from: string | null = null): string {
  const { out, in: inc } = adjacency(g.edges);
  const byX = (ids: readonly string[]) => [...new Set(ids)].sort((a, b) => (g.x.get(a) ?? 0) - (g.x.get(b) ?? 0));
  switch (key) {
    case 'ArrowDown':
      return byX(out.get(current) ?? [])[0] ?? current;
    case 'ArrowUp':
      return byX(inc.get(current) ?? [])[0] ?? current;
    case 'ArrowLeft':
    case 'ArrowRight': {
      const feeders = inc.get(current) ?? [];
      const parent = from !== null && feeders.includes(from) ? from : feeders[0];
      if (parent === undefined) return current;
      const siblings = byX(out.get(parent) ?? []);
      const i = siblings.indexOf(current);
      const next = i + (key === 'ArrowRight' ? 1 : -1);
      return siblings[(next + siblings.length) % siblings.length] ?? current;
    }
  }
}

/** Names matching a search (case-insensitive substring), in graph order. */
export function searchNodes(names: readonly string[], query: string): string[] {
  const q = query.trim().toLowerCase();
  if (q === '') return [];
  return names.filter((n) => n.toLowerCase().includes(q));
}
