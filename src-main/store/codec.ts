/** Small conversions between SQLite column values and the contract's types. */

/** ISO-8601 UTC, millisecond precision: sorts as text in time order. */
export function nowIso(): string {
  return new Date().toISOString();
}

export function toJson(value: unknown): string {
  return JSON.stringify(value ?? null);
}

/** Parses a JSON column; `what` names the row so a corrupt value is traceable. */
export function fromJson<T>(text: string | null, fallback: T, what: string): T {
  if (text === null) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new Error(`stored JSON of ${what} is not valid: ${(err as Error).message}`, { cause: err });
  }
}

export function toFlag(value: boolean): 0 | 1 {
  return value ? 1 : 0;
}

/** SQLite turns NaN into NULL; keep it that way explicitly for nullable metrics. */
export function nullableNumber(value: number | null | undefined): number | null {
  return value === undefined || value === null || Number.isNaN(value) ? null : value;
}
