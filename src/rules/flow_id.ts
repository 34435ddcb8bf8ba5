// Health answers name each rule by a `flowID`: a stable unsigned 64-bit number derived from the
// rule's key (written exactly by protocol/exact_json.ts, since it may exceed 2^53).

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
