/** The model files opened last (newest first), kept in a JSON file in the user data folder for the File menu. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const RECENT_MAX = 8;

export class RecentModels {
  constructor(private readonly file: string) {}

  /** The remembered files that still exist. */
  list(): string[] {
    try {
      const v = JSON.parse(readFileSync(this.file, 'utf8')) as unknown;
      return Array.isArray(v) ? v.filter((p): p is string => typeof p === 'string' && existsSync(p)) : [];
    } catch {
      return [];
    }
  }

  add(file: string): string[] {
    const list = [file, ...this.list().filter((p) => p !== file)].slice(0, RECENT_MAX);
    this.save(list);
    return list;
  }

  clear(): void {
    this.save([]);
  }

  private save(list: string[]): void {
    mkdirSync(path.dirname(this.file), { recursive: true });
    writeFileSync(this.file, JSON.stringify(list));
  }
}
