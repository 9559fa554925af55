/** Which view is showing; kept in the URL hash so a reload comes back to it. */

export type ViewId = 'runs' | 'new' | 'compare' | 'model' | 'data' | 'export' | 'glossary';

export interface NavItem {
  id: ViewId;
  label: string;
  /** One line for the tooltip. */
  hint: string;
}

/** In navigation order; Alt+1..7 follow it. */
export const NAV_ITEMS: readonly NavItem[] = [
  { id: 'runs', label: 'Runs', hint: 'Calibration and QAT runs with their accuracy' },
  { id: 'new', label: 'New run', hint: 'Calibrate (PTQ), train with quantization (QAT) or train a float baseline' },
  { id: 'compare', label: 'Compare', hint: 'Runs side by side, layer by layer' },
  { id: 'model', label: 'Model', hint: 'Models in the store and the built-in catalog' },
  { id: 'data', label: 'Datasets', hint: 'Imported datasets: shape, labels, size; import and delete' },
  { id: 'export', label: 'Export', hint: 'Quantized models and reports' },
  { id: 'glossary', label: 'Glossary', hint: 'Quantization terms: bits, granularity, estimators, SQNR, clip rate' },
];

function isViewId(value: string): value is ViewId {
  return NAV_ITEMS.some((item) => item.id === value);
}

function viewFromHash(hash: string): ViewId | null {
  const id = hash.replace(/^#\/?/, '');
  return isViewId(id) ? id : null;
}

export class Navigation {
  current = $state<ViewId>('runs');

  constructor() {
    this.current = viewFromHash(window.location.hash) ?? 'runs';
  }

  go(id: ViewId): void {
    if (this.current === id) return;
    this.current = id;
    // replaceState: switching views is not worth a history entry, and leaves the page's URL (and file://) alone.
    history.replaceState(history.state, '', `#${id}`);
  }

  /** Alt+1..7 -> the nth view. */
  goToIndex(index: number): void {
    const item = NAV_ITEMS[index];
    if (item) this.go(item.id);
  }
}
