/**
 * Runs ELK's layered layout off the main thread: elkjs's API talks to its
 * own web worker (elk-worker.min.js, emitted by Vite as an asset), so a
 * large graph never freezes the window. A layout that takes longer than the
 * caller allows is abandoned (the worker is terminated and a fresh one is
 * started for the next call) and reported as a timeout, for the view to
 * fall back to a collapsed graph.
 */
import ELK from 'elkjs/lib/elk-api.js';
import elkWorkerUrl from 'elkjs/lib/elk-worker.min.js?url';
import type { VisibleGraph } from '../data/graph/collapse.js';
import { fromElkGraph, toElkGraph, type ElkNode, type GraphLayout } from '../data/graph/layout-graph.js';

export type LayoutOutcome = { kind: 'done'; layout: GraphLayout; ms: number } | { kind: 'timeout'; ms: number };

type Elk = InstanceType<typeof ELK>;

export class GraphLayouter {
  #elk: Elk | null = null;

  #instance(): Elk {
    this.#elk ??= new ELK({ workerUrl: elkWorkerUrl, workerFactory: (url) => new Worker(url!) });
    return this.#elk;
  }

  /** Starts the worker ahead of the first layout (it parses 1.6 MB of script) and runs a small layout through the layered algorithm's code. */
  warm(): void {
    if (this.#elk) return;
    const tiny: VisibleGraph = {
      nodes: ['a', 'b', 'c'].map((id) => ({ id, kind: 'layer', label: id, op: 'op', parent: null, layer: null })),
      edges: [{ id: 'a->b', source: 'a', target: 'b', label: '1' }, { id: 'a->c', source: 'a', target: 'c', label: '1' }, { id: 'b->c', source: 'b', target: 'c', label: '1' }],
      groups: [],
    };
    void this.#instance().layout(toElkGraph(tiny) as Parameters<Elk['layout']>[0]).catch(() => undefined);
  }

  async layout(graph: VisibleGraph, timeoutMs: number): Promise<LayoutOutcome> {
    const t0 = performance.now();
    const elk = this.#instance();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    try {
      const laid = await Promise.race([elk.layout(toElkGraph(graph) as Parameters<Elk['layout']>[0]), timeout]);
      if (laid === 'timeout') {
        this.dispose();
        return { kind: 'timeout', ms: performance.now() - t0 };
      }
      return { kind: 'done', layout: fromElkGraph(laid as ElkNode, graph), ms: performance.now() - t0 };
    } finally {
      clearTimeout(timer);
    }
  }

  dispose(): void {
    this.#elk?.terminateWorker();
    this.#elk = null;
  }
}

/** One layouter for the window: its worker outlives a graph view, so the next one starts warm. */
let shared: GraphLayouter | null = null;
export function graphLayouter(): GraphLayouter {
  shared ??= new GraphLayouter();
  return shared;
}
