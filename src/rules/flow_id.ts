// Health answers name each rule by a `flowID`: a stable unsigned 64-bit number derived from the
// rule's key, written as an exact JSON integer even above 2^53 (JSON.stringify cannot, so this
// file carries the tiny serializer that can).

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const U64 = (1n << 64n) - 1n;

/**
 * The flow id of a rule: FNV-1a 64 of `http:DOMAIN` or `port:PORT`, so it survives restarts and
 * updates of the rule and differs between rules.
 */
export function flowId(kind: "http" | "port", key: string | number): bigint {
  let hash = FNV_OFFSET;
  for (const byte of new TextEncoder().encode(`${kind}:${key}`)) {
    hash ^= BigInt(byte);
    hash = (hash * FNV_PRIME) & U64;
  }
  return hash;
}

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
