// The window's bounds round-trip through window-state.json and come back only onto a visible display.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { readWindowState, restorableState, writeWindowState } from '../../../../src-main/hosts/electron/window-state.js';
import { tempDir } from '../../../helpers/temp.js';

const laptop = { x: 0, y: 0, width: 1920, height: 1040 };
const rightMonitor = { x: 1920, y: 0, width: 2560, height: 1400 };

test('saved bounds are read back as written; a missing or broken file gives null', () => {
  const file = path.join(tempDir(), 'sub', 'window-state.json');
  assert.equal(readWindowState(file), null);
  writeWindowState(file, { x: 2100, y: 40, width: 1400, height: 900, maximized: true });
  assert.deepEqual(readWindowState(file), { x: 2100, y: 40, width: 1400, height: 900, maximized: true });
  writeFileSync(file, '{"x": 1, "y": 2, "width": "wide"}');
  assert.equal(readWindowState(file), null);
  writeFileSync(file, 'not json');
  assert.equal(readWindowState(file), null);
});

test('restored only if its title bar is on a display: the right monitor unplugged sends it back to the defaults', () => {
  const onRight = { x: 2100, y: 40, width: 1400, height: 900, maximized: false };
  assert.deepEqual(restorableState(onRight, [laptop, rightMonitor]), onRight);
  assert.equal(restorableState(onRight, [laptop]), null);
  // Half off the left edge but 200 px of its title bar on screen: kept.
  assert.ok(restorableState({ x: -1200, y: 100, width: 1400, height: 900, maximized: false }, [laptop]));
  // Only 50 px of it left on screen: too little to grab.
  assert.equal(restorableState({ x: -1350, y: 100, width: 1400, height: 900, maximized: false }, [laptop]), null);
  // Title bar above the top of the screen: cannot be grabbed.
  assert.equal(restorableState({ x: 100, y: -200, width: 1400, height: 900, maximized: false }, [laptop]), null);
  assert.equal(restorableState(null, [laptop]), null);
});
