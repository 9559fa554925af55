/** A DesktopShell that records what it is asked, for the desktop logic's tests. */
import type { DesktopShell } from '../../../../src-main/hosts/electron/desktop-shell.js';

export class FakeShell implements DesktopShell {
  readonly calls: [string, ...unknown[]][] = [];
  sleepBlocked = false;
  setProgress(fraction: number): void {
    this.calls.push(['setProgress', fraction]);
  }
  notify(title: string, body: string): void {
    this.calls.push(['notify', title, body]);
  }
  blockSleep(): void {
    this.sleepBlocked = true;
    this.calls.push(['blockSleep']);
  }
  allowSleep(): void {
    this.sleepBlocked = false;
    this.calls.push(['allowSleep']);
  }
  showItemInFolder(file: string): void {
    this.calls.push(['showItemInFolder', file]);
  }
  of(name: string): unknown[][] {
    return this.calls.filter((c) => c[0] === name).map((c) => c.slice(1));
  }
}
