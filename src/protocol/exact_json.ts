// JSON text with exact 64-bit integers: health answers carry `flowID`s above 2^53, which
// JSON.stringify cannot write, so the API (and any other writer) uses this serializer.

/**
 * JSON text like `JSON.stringify`, except that a `bigint` is written as a bare integer.
 *
 * @throws {TypeError} for values JSON cannot hold (functions, symbols, cycles are a caller bug)
 */
export function stringifyJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "bigint":
      return value.toString();
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "number":
      return Number.isFinite(value) ? String(value) : "null";
    case "object": {
      if (Array.isArray(value)) {
        return `[${
          value.map((item) => item === undefined ? "null" : stringifyJson(item)).join(",")
        }]`;
      }
      const parts: string[] = [];
      for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
        if (item === undefined) continue;
        parts.push(`${JSON.stringify(key)}:${stringifyJson(item)}`);
      }
      return `{${parts.join(",")}}`;
    }
    default:
      throw new TypeError(`Cannot serialize to JSON: unsupported ${typeof value}`);
  }
}
