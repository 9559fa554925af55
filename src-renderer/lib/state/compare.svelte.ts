/**
 * The Compare view's state: which runs, their details in one `runs.compare`
 * call, the focused layer's channel vectors and histograms, QAT curves, and
 * the culprit loop (re-run a run with one layer fixed; the child joins the
 * comparison). Derived chart data lives in lib/data (pure, unit-tested).
 */
import type { CompareRun, MethodOutput, RunChannels, RunCurvePoint, RunHistogram } from '../../../src-main/api/contract.js';
import { toApiError, type ApiClient, type ApiError } from '../api.js';
import { configDiff } from '../data/config-diff.js';
import { culpritRun, type CulpritFix } from '../data/culprit.js';
import { rankLayers, worstRunIndex } from '../data/sqnr.js';

export type TensorRole = 'weight' | 'activation' | 'input';

/** Performance marks around opening Compare (bench/compare.ts reads the measure). */
export const MARK_CLICK = 'compare:click';
export const MARK_PAINTED = 'compare:painted';
export const MEASURE_OPEN = 'compare:open';

/** A prefetched comparison is used only this soon after it was asked for (runs may have changed since). */
const PREFETCH_FRESH_MS = 30_000;

type CompareResult = MethodOutput<'runs.compare'>;

/** The key of a set of runs: the comparison's content does not depend on the order chosen. */
function keyOf(ids: readonly number[]): string {
  return [...new Set(ids)].sort((a, b) => a - b).join(',');
}

export class CompareStore {
  #api: ApiClient;
  #loadSeq = 0;
  #focusSeq = 0;
  #reloadTimer: ReturnType<typeof setTimeout> | null = null;
  /** The comparison of the runs ticked in Runs, fetched while the user reaches for Compare. */
  #prefetched: { key: string; at: number; result: Promise<CompareResult | null> } | null = null;

  /** Run ids being compared, in the order chosen. */
  ids = $state.raw<number[]>([]);
  runs = $state.raw<CompareRun[]>([]);
  missing = $state.raw<number[]>([]);
  loading = $state(false);
  error = $state.raw<ApiError | null>(null);
  /** Index (into runs) of the run the ranking and the culprit buttons work on. */
  baseIndex = $state(0);
  #baseChosen = false;

  /** The layer the channel and histogram charts show, and the histogram's tensor role. */
  layer = $state<string | null>(null);
  role = $state<TensorRole>('weight');
  channels = $state.raw<RunChannels[]>([]);
  histograms = $state.raw<RunHistogram[]>([]);
  focusLoading = $state(false);
  focusError = $state.raw<ApiError | null>(null);

  curves = $state.raw<{ runId: number; points: RunCurvePoint[] }[]>([]);

  /** Culprit re-runs being started ("layer:fix"), and the last failure. */
  starting = $state.raw<ReadonlySet<string>>(new Set());
  culpritError = $state.raw<ApiError | null>(null);

  /** Bumped when everything of a load (runs, focus) has arrived; the view marks the paint after it. */
  readyTick = $state(0);

  readonly ranking = $derived(rankLayers(this.runs, this.baseIndex));
  readonly diff = $derived(configDiff(this.runs));
  readonly base = $derived(this.runs[this.baseIndex] ?? null);
  /** Layers with a weight tensor in any run, in graph order: what the channel chart can show. */
  readonly weightLayers = $derived(layersWithRole(this.runs, 'weight'));
  /** Layers with a tensor of the chosen role. */
  readonly roleLayers = $derived(layersWithRole(this.runs, this.role));
  readonly hasCurves = $derived(this.runs.some((r) => r.curvePoints > 0));

  constructor(api: ApiClient) {
    this.#api = api;
  }

  /** Opens a comparison of these runs (replacing the current one). */
  open(ids: readonly number[]): Promise<void> {
    this.ids = [...new Set(ids)];
    this.#baseChosen = false;
    this.layer = null;
    return this.load();
  }

  /**
   * Starts fetching the comparison of these runs before the user opens it
   * (Runs calls this as runs are ticked), so Compare paints without waiting
   * for the host. A failure here is ignored: opening asks again and shows it.
   */
  prefetch(ids: readonly number[]): void {
    const key = keyOf(ids);
    if (new Set(ids).size < 2 || (this.#prefetched?.key === key && Date.now() - this.#prefetched.at < PREFETCH_FRESH_MS)) return;
    const result = this.#api.call('runs.compare', { ids: [...new Set(ids)] }).catch(() => null);
    this.#prefetched = { key, at: Date.now(), result };
  }

  /** The prefetched comparison of exactly these runs, if fresh; used once. */
  #takePrefetched(ids: readonly number[]): Promise<CompareResult | null> | null {
    const p = this.#prefetched;
    this.#prefetched = null;
    if (!p || p.key !== keyOf(ids) || Date.now() - p.at >= PREFETCH_FRESH_MS) return null;
    return p.result;
  }

  remove(id: number): Promise<void> {
    this.ids = this.ids.filter((x) => x !== id);
    return this.load();
  }

  /** Listens for run changes of compared runs (a culprit child finishing) and reloads; returns the unsubscribe. */
  listen(): () => void {
    return this.#api.on('runs.changed', (change) => {
      if (this.#prefetched?.key.split(',').includes(String(change.id))) this.#prefetched = null;
      if (!this.ids.includes(change.id)) return;
      if (this.#reloadTimer !== null) clearTimeout(this.#reloadTimer);
      this.#reloadTimer = setTimeout(() => {
        this.#reloadTimer = null;
        void this.load(true);
      }, 150);
    });
  }

  /** (Re)loads the runs; `keepFocus` keeps the layer and role (a refresh rather than a new comparison). */
  async load(keepFocus = false): Promise<void> {
    const seq = ++this.#loadSeq;
    const ids = this.ids;
    if (ids.length === 0) {
      this.runs = [];
      this.missing = [];
      this.error = null;
      return;
    }
    this.loading = true;
    this.error = null;
    try {
      const keep = keepFocus && this.layer !== null;
      const prefetched = keep ? null : await this.#takePrefetched(ids);
      const out = prefetched ?? (await this.#api.call('runs.compare', keep ? { ids, layer: this.layer!, role: this.role } : { ids }));
      if (seq !== this.#loadSeq) return;
      performance.mark('compare:data');
      // Keep the order the user chose.
      const byId = new Map(out.runs.map((r) => [r.id, r]));
      this.runs = ids.map((id) => byId.get(id)).filter((r): r is CompareRun => r !== undefined);
      this.missing = out.missing;
      if (!this.#baseChosen || this.baseIndex >= this.runs.length) this.baseIndex = worstRunIndex(this.runs);
      if (!keep || !this.roleLayers.includes(this.layer!)) this.#pickDefaultFocus();
      const jobs: Promise<unknown>[] = [];
      if (out.focus !== null && out.focus.layer === this.layer && out.focus.role === this.role) {
        // The host sent the focused layer along: no second round trip.
        ++this.#focusSeq;
        this.channels = out.focus.channels;
        this.histograms = out.focus.histograms;
        this.focusError = null;
      } else jobs.push(this.#loadFocus());
      if (this.hasCurves) jobs.push(this.#loadCurves(seq));
      else this.curves = [];
      await Promise.all(jobs);
      performance.mark('compare:focus');
      if (seq === this.#loadSeq) this.readyTick++;
    } catch (err) {
      if (seq === this.#loadSeq) this.error = toApiError(err, 'runs.compare');
    } finally {
      if (seq === this.#loadSeq) this.loading = false;
    }
  }

  setBase(index: number): void {
    this.#baseChosen = true;
    this.baseIndex = index;
  }

  focus(layer: string, role?: TensorRole): Promise<void> {
    this.layer = layer;
    if (role) this.role = role;
    return this.#loadFocus();
  }

  setRole(role: TensorRole): Promise<void> {
    this.role = role;
    if (this.layer === null || !this.roleLayers.includes(this.layer)) this.layer = this.roleLayers[0] ?? null;
    return this.#loadFocus();
  }

  /**
   * Re-runs the base run's config with `layer` fixed (float, 8 or 16 bits) as
   * a child of it; the new run joins the comparison at once and fills in
   * when it finishes.
   */
  async culprit(layer: string, fix: CulpritFix, from?: CompareRun): Promise<number | null> {
    const base = from ?? this.base;
    if (!base) return null;
    const key = `${layer}:${fix}`;
    if (this.starting.has(key)) return null;
    this.starting = new Set([...this.starting, key]);
    this.culpritError = null;
    try {
      const child = await this.#api.call('runs.start', { ...culpritRun(base, layer, fix), parentId: base.id });
      this.ids = [...this.ids, child.id];
      await this.load(true);
      return child.id;
    } catch (err) {
      this.culpritError = toApiError(err, 'runs.start');
      return null;
    } finally {
      const next = new Set(this.starting);
      next.delete(key);
      this.starting = next;
    }
  }

  dismissCulpritError(): void {
    this.culpritError = null;
  }

  /** Channel chart and histograms start on the first layer with weights (graph order): the first conv. */
  #pickDefaultFocus(): void {
    if (this.weightLayers.length > 0) {
      this.role = 'weight';
      this.layer = this.weightLayers[0]!;
    } else {
      this.role = 'activation';
      this.layer = this.roleLayers[0] ?? null;
    }
  }

  async #loadFocus(): Promise<void> {
    const seq = ++this.#focusSeq;
    const layer = this.layer;
    const ids = this.runs.map((r) => r.id);
    if (layer === null || ids.length === 0) {
      this.channels = [];
      this.histograms = [];
      return;
    }
    this.focusLoading = true;
    this.focusError = null;
    try {
      // Channel vectors are of the weights: the range chart always shows the layer's kernel.
      const [channels, histograms] = await Promise.all([
        this.#api.call('runs.channels', { ids, layer, role: 'weight' }),
        this.#api.call('runs.histograms', { ids, layer, role: this.role }),
      ]);
      if (seq !== this.#focusSeq) return;
      this.channels = channels;
      this.histograms = histograms;
    } catch (err) {
      if (seq === this.#focusSeq) this.focusError = toApiError(err, 'runs.channels');
    } finally {
      if (seq === this.#focusSeq) this.focusLoading = false;
    }
  }

  async #loadCurves(seq: number): Promise<void> {
    const ids = this.runs.filter((r) => r.curvePoints > 0).map((r) => r.id);
    const curves = await this.#api.call('runs.curves', { ids });
    if (seq === this.#loadSeq) this.curves = curves;
  }
}

function layersWithRole(runs: readonly CompareRun[], role: TensorRole): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const run of runs) {
    for (const t of run.tensors) {
      if (t.role === role && !seen.has(t.layer)) {
        seen.add(t.layer);
        out.push(t.layer);
      }
    }
  }
  return out;
}
