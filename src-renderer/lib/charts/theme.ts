/**
 * Colours for uPlot, read from the theme's CSS variables (app.css), so the
 * charts follow light and dark like the rest of the window.
 */
export interface ChartTheme {
  text: string;
  muted: string;
  grid: string;
  border: string;
  bad: string;
  warn: string;
  good: string;
  accent: string;
  surface: string;
  /** One colour per run, in the comparison's order (cycled). */
  runs: string[];
}

export function readTheme(el: Element = document.documentElement): ChartTheme {
  const css = getComputedStyle(el);
  const v = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  const runs: string[] = [];
  for (let i = 0; i < 8; i++) runs.push(v(`--run-${i}`, ['#2563c9', '#d9480f', '#2b8a3e', '#9c36b5', '#c2255c', '#0b7285', '#e67700', '#5f3dc4'][i]!));
  return {
    text: v('--text', '#1b1f24'),
    muted: v('--text-muted', '#5b6470'),
    grid: v('--chart-grid', 'rgba(0,0,0,0.08)'),
    border: v('--border', '#d5dae1'),
    bad: v('--bad', '#c0262d'),
    warn: v('--warn', '#8a5a00'),
    good: v('--good', '#1a7f37'),
    accent: v('--accent', '#2563c9'),
    surface: v('--surface', '#ffffff'),
    runs,
  };
}

export function runColor(theme: ChartTheme, index: number): string {
  return theme.runs[index % theme.runs.length]!;
}

/** `#rrggbb` with an alpha, for fills; other colour syntaxes are returned unchanged. */
export function withAlpha(color: string, alpha: number): string {
  const m = /^#([0-9a-f]{6})$/i.exec(color);
  if (!m) return color;
  const a = Math.round(Math.min(1, Math.max(0, alpha)) * 255)
    .toString(16)
    .padStart(2, '0');
  return `#${m[1]}${a}`;
}

let cached: { dark: boolean; theme: ChartTheme } | null = null;

/**
 * The theme, read once per colour scheme: getComputedStyle forces a style
 * recalculation, which adds up when a view creates several charts at once.
 */
export function currentTheme(): ChartTheme {
  const dark = window.matchMedia('(prefers-color-scheme: dark)').matches;
  if (cached === null || cached.dark !== dark) cached = { dark, theme: readTheme() };
  return cached.theme;
}
