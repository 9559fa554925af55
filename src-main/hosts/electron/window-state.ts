/**
 * The main window's size and position, remembered in a JSON file in the user
 * data folder and restored only where it is still visible: a display plugged
 * out since must not leave the window off screen.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface Bounds {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface WindowState extends Bounds {
  maximized: boolean;
}

export const DEFAULT_SIZE = { width: 1400, height: 900 } as const;
/** How much of the window's top strip (its title bar) must lie on one display to restore it there. */
const GRIP = { width: 100, height: 30 } as const;

export function readWindowState(file: string): WindowState | null {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as Partial<WindowState>;
    const nums = [v.x, v.y, v.width, v.height];
    if (!nums.every((n) => typeof n === 'number' && Number.isFinite(n)) || v.width! < 1 || v.height! < 1) return null;
    return { x: v.x!, y: v.y!, width: v.width!, height: v.height!, maximized: v.maximized === true };
  } catch {
    return null; // no file yet, or an unreadable one: the defaults
  }
}

export function writeWindowState(file: string, state: WindowState): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(state));
}

function overlap(a: Bounds, b: Bounds): { width: number; height: number } {
  return {
    width: Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x),
    height: Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y),
  };
}

/** The saved state if its title bar can be grabbed on one of the displays' work areas; null otherwise (use the defaults). */
export function restorableState(saved: WindowState | null, workAreas: Bounds[]): WindowState | null {
  if (!saved) return null;
  const titleBar = { x: saved.x, y: saved.y, width: saved.width, height: Math.min(saved.height, GRIP.height) };
  const visible = workAreas.some((area) => {
    const o = overlap(titleBar, area);
    return o.width >= Math.min(GRIP.width, saved.width) && o.height >= titleBar.height;
  });
  return visible ? saved : null;
}
