/**
 * Which rows of a long table to put in the DOM: those in the scrolled
 * viewport plus a few either side, with the height of the rows left out above
 * and below as padding, so a thousand runs scroll as smoothly as ten.
 * Rows have one fixed height (the table keeps them on one line).
 */
export interface RowWindow {
  /** First row rendered (inclusive). */
  start: number;
  /** Last row rendered (exclusive). */
  end: number;
  /** Height of the rows before `start`, in px. */
  padTop: number;
  /** Height of the rows from `end` on, in px. */
  padBottom: number;
}

export function rowWindow(count: number, rowHeight: number, scrollTop: number, viewportHeight: number, overscan = 8): RowWindow {
  if (count <= 0 || rowHeight <= 0) return { start: 0, end: 0, padTop: 0, padBottom: 0 };
  // Before the viewport is measured, render a screenful rather than nothing.
  const visible = Math.ceil((viewportHeight > 0 ? viewportHeight : 1000) / rowHeight);
  const first = Math.min(count - 1, Math.max(0, Math.floor(scrollTop / rowHeight)));
  const start = Math.max(0, first - overscan);
  const end = Math.min(count, first + visible + overscan);
  return { start, end, padTop: start * rowHeight, padBottom: (count - end) * rowHeight };
}
