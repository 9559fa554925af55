/**
 * Graph view speed and readability, measured in Debian's Chromium through the
 * web host: keras.applications models at Keras's own size (224 px, alpha 1,
 * seeded weights skipped: layout does not read them) imported into a fresh
 * store. For each, the Model view is opened on the layer table (explanation
 * loaded), then "Graph" is clicked: we time the click to the frame after the
 * laid-out SVG is in the DOM (the renderer measures `graph:paint` from the
 * layout request; the bench takes the click-to-paint time as well), six
 * rounds, the first with ELK's worker cold. Goal: MobileNetV2 (155 layers)
 * under 500 ms. Readability: edge segments that pass through a node box
 * other than their ends, read off the painted SVG (EfficientNetB0's
 * squeeze-and-excite side paths should have none). DenseNet121 (its wide
 * concatenations) is timed the same way. Panning: the painted graph dragged
 * by the mouse over 120 steps, one per frame, with the interval between
 * animation frames recorded in the page (goal: 60 fps, a median frame of at
 * most 1000/60 ms).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import '../src-main/engine/graph/tfjs-compat/index.js';
import { writeLayersModelFiles } from '../src-main/io/models/tfjs-layers.js';
import { edgesThroughNodes, type GraphLayout, type PlacedEdge, type PlacedNode } from '../src-renderer/lib/data/graph/layout-graph.js';
import { denseNet121, efficientNetB0, mobileNetV2 } from '../test/helpers/applications/index.js';
import { median } from './median.js';

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const GOAL_MS = 500;
const ROUNDS = 6;

const MODELS = [
  { name: 'MobileNetV2', build: () => mobileNetV2({ seed: null }) },
  { name: 'EfficientNetB0', build: () => efficientNetB0({ seed: null }) },
  { name: 'DenseNet121', build: () => denseNet121({ seed: null }) },
];

const round1 = (x: number) => Math.round(x * 10) / 10;

/** "M1 2 L3 4 …" -> points. */
function pathPoints(d: string): { x: number; y: number }[] {
  return [...d.matchAll(/[ML]([-\d.]+) ([-\d.]+)/g)].map((m) => ({ x: Number(m[1]), y: Number(m[2]) }));
}

/** Drags the painted graph with the mouse, one small move per animation frame, and returns the frame intervals the page saw. */
async function panFrames(page: import('playwright-core').Page): Promise<{ median: number; p95: number; frames: number }> {
  const box = await page.getByTestId('graph-canvas').boundingBox();
  if (!box) throw new Error('no graph canvas to pan');
  const x0 = box.x + box.width / 2;
  const y0 = box.y + box.height / 2;
  // Strings: this file is compiled without the DOM's types.
  await page.evaluate(`window.__frames = []; window.__panning = true; (function tick(t) { window.__frames.push(t); if (window.__panning) requestAnimationFrame(tick); })(performance.now());`);
  await page.mouse.move(x0, y0);
  await page.mouse.down();
  for (let i = 1; i <= 120; i++) {
    await page.mouse.move(x0 + 200 * Math.sin(i / 20), y0 + 120 * Math.sin(i / 31));
    await page.evaluate('new Promise((r) => requestAnimationFrame(() => r(null)))');
  }
  await page.mouse.up();
  const frames = await page.evaluate<number[]>(`(() => { window.__panning = false; return window.__frames; })()`);
  const gaps = frames.slice(2).map((t, i) => t - frames[i + 1]!).sort((a, b) => a - b);
  return { median: median(gaps), p95: gaps[Math.floor(gaps.length * 0.95)] ?? NaN, frames: gaps.length };
}

export async function benchGraph(): Promise<Record<string, number>> {
  const { chromium } = await import('playwright-core');
  const { openStudio } = await import('../src-main/studio.js');
  const { startWebHost } = await import('../src-main/hosts/web/server.js');
  const { rendererDir } = await import('../src-main/paths.js');

  const dir = mkdtempSync(path.join(os.tmpdir(), 'studio-bench-graph-'));
  const studio = await openStudio({ dbPath: path.join(dir, 'studio.sqlite'), host: 'web', defaults: false, backend: 'cpu' });
  const host = await startWebHost({ handlers: studio.handlers, events: studio.events, rendererDir: rendererDir(), port: 0 });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const figures: Record<string, number> = { goalMs: GOAL_MS };
  try {
    for (const m of MODELS) {
      const model = m.build();
      const [modelJson] = await writeLayersModelFiles(model, path.join(dir, m.name));
      model.dispose();
      const summary = await studio.handlers['models.import']({ path: modelJson!, mode: 'reference', name: m.name });

      const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, bypassCSP: true });
      await page.goto(host.openUrl);
      await page.getByTestId('nav-model').click();
      await page.getByTestId('model-item').filter({ hasText: m.name }).click();
      // The explanation (fold records) is in before the graph is asked for.
      await page.waitForFunction(`document.querySelectorAll('[data-testid="layer-quant"]').length === ${summary.layerCount + 1}`, undefined, { timeout: 120_000 });
      const clicks: number[] = [];
      const layouts: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        if (i > 0) await page.getByTestId('model-view-table').click();
        // Strings: this file is compiled without the DOM's types.
        await page.evaluate(`performance.clearMeasures('graph:paint'); window.__t = performance.now();`);
        await page.getByTestId('model-view-graph').click();
        await page.waitForFunction(() => performance.getEntriesByName('graph:paint', 'measure').length > 0, undefined, { timeout: 60_000 });
        const [click, layout] = await page.evaluate<[number, number]>(
          `(() => { const m = performance.getEntriesByName('graph:paint', 'measure')[0]; return [m.startTime + m.duration - window.__t, m.duration]; })()`,
        );
        clicks.push(click);
        layouts.push(layout);
      }
      const nodes = await page.getByTestId('graph-node').count();
      const note = (await page.getByTestId('graph-note').count()) > 0 ? await page.getByTestId('graph-note').textContent() : null;
      // Read the painted geometry back and look for edges through nodes.
      const drawn = await page.evaluate<{ nodes: PlacedNode[]; edges: { source: string; target: string; d: string }[] }>(`({
        nodes: [...document.querySelectorAll('[data-testid="graph-node"], [data-testid="graph-group-node"]')].map((g) => {
          const r = g.querySelector('rect');
          return { id: g.getAttribute('data-node'), x: +r.getAttribute('x'), y: +r.getAttribute('y'), width: +r.getAttribute('width'), height: +r.getAttribute('height') };
        }),
        edges: [...document.querySelectorAll('[data-testid="graph-edge"]')].map((g) => ({ source: g.getAttribute('data-source'), target: g.getAttribute('data-target'), d: g.querySelector('path').getAttribute('d') })),
      })`);
      const layout: GraphLayout = {
        width: 0,
        height: 0,
        groups: [],
        nodes: new Map(drawn.nodes.map((n): [string, PlacedNode] => [n.id, n])),
        edges: drawn.edges.map((e): PlacedEdge => ({ id: `${e.source}->${e.target}`, source: e.source, target: e.target, label: '', points: pathPoints(e.d), labelAt: null })),
      };
      const through = edgesThroughNodes(layout);
      const pan = await panFrames(page);
      const mul = drawn.nodes.filter((n) => /se_excite$/.test(n.id));
      const seThrough = through.filter((t) => /se_/.test(t.edge)).length;
      await page.close();

      const first = clicks[0]!;
      const med = median(clicks.slice(1));
      const key = m.name;
      Object.assign(figures, {
        [`${key}Layers`]: summary.layerCount,
        [`${key}Nodes`]: nodes,
        [`${key}FirstClickToPaintMs`]: round1(first),
        [`${key}ClickToPaintMs`]: round1(med),
        [`${key}LayoutPaintMs`]: round1(median(layouts.slice(1))),
        [`${key}EdgesThroughNodes`]: through.length,
        [`${key}PanMedianFrameMs`]: round1(pan.median),
        [`${key}PanP95FrameMs`]: round1(pan.p95),
      });
      console.log(
        `  ${m.name}: ${summary.layerCount} layers -> ${nodes} nodes${note ? ` (${note})` : ''}; click -> painted graph: first ${round1(first)} ms (worker cold), median of next ${ROUNDS - 1} ${round1(med)} ms (layout + paint ${round1(median(layouts.slice(1)))} ms)${m.name === 'MobileNetV2' ? ` (goal < ${GOAL_MS} ms: ${med < GOAL_MS ? 'met' : 'NOT met'})` : ''}`,
      );
      console.log(`    pan: median frame ${round1(pan.median)} ms (${round1(1000 / pan.median)} fps), p95 ${round1(pan.p95)} ms over ${pan.frames} frames (goal 60 fps: ${pan.median <= 1000 / 60 + 0.5 ? 'met' : 'NOT met'})`);
      console.log(`    edge segments through a node: ${through.length} of ${drawn.edges.length} edges${mul.length > 0 ? `; squeeze-and-excite (${mul.length} blocks): ${seThrough}` : ''}`);
      if (through.length > 0) console.log(`    e.g. ${through.slice(0, 3).map((t) => `${t.edge} through ${t.node}`).join('; ')}`);
    }
    return figures;
  } finally {
    await browser.close();
    await host.close();
    await studio.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// Run alone: node dist/bench/graph.js
if (import.meta.url === `file://${process.argv[1]}`) {
  benchGraph().then(
    (f) => console.log(JSON.stringify(f)),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
