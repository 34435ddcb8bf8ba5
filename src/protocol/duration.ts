// Go-style durations ("500ms", "3s", "1.5m", "2h") as whole milliseconds: the one parser behind
// the CLI's duration flags and the local API's pingInterval/pingTimeout fields.

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration such as `500ms`, `3s`, `1.5s`, `1m` or `2h`.
 *
 * @param text the duration; a bare number has no unit and is refused
 * @returns the duration in whole milliseconds (rounded), or `undefined` when `text` is not one
 *
 * @example
 * ```ts
 * parseDurationMs("1.5s"); // 1500
 * parseDurationMs("3"); // undefined
 * ```
 */
export function parseDurationMs(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (!match) return undefined;
  return Math.round(Number(match[1]) * DURATION_UNITS[match[2]]);
}
