// Byte moves and 64-bit fields on the per-packet path, written so a lone packet after a quiet
// spell touches as little code as it can. Measured on the engine Worker woken by a ping after
// 10 ms asleep: each distinct builtin it reaches (TypedArray subarray and set, BigInt
// conversions) costs 3-10 µs while the caches are cold, against well under 1 µs warm; a plain
// loop over a few dozen bytes or two 32-bit writes stay in code already compiled into the caller.

/** Below this many bytes a copy is a plain loop; above it `set` (a memmove) wins even cold. */
const LOOP_COPY_MAX = 128;
const TWO_32 = 4294967296;

/** Copies `from[start…start+length)` to `into[at…)`. */
export function copyBytes(
  into: Uint8Array,
  at: number,
  from: Uint8Array,
  start: number,
  length: number,
): void {
  if (length > LOOP_COPY_MAX) {
    into.set(from.subarray(start, start + length), at);
    return;
  }
  for (let i = 0; i < length; i++) into[at + i] = from[start + i];
}

/**
 * The address of `bytes`' first byte, for a pointer field the kernel reads. User-space addresses
 * stay below 2^47 on x86-64 and arm64, so a number holds them exactly.
 */
export function addressOf(bytes: Uint8Array): number {
  return Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
}

/** Writes a non-negative integer below 2^53 as a little-endian 64-bit field (size_t, pointer). */
export function setUint64(view: DataView, offset: number, value: number): void {
  const low = value >>> 0;
  view.setUint32(offset, low, true);
  view.setUint32(offset + 4, (value - low) / TWO_32, true);
}

/** Reads a little-endian 64-bit field as a number (exact below 2^53: lengths, counts). */
export function getUint64(view: DataView, offset: number): number {
  return view.getUint32(offset, true) + view.getUint32(offset + 4, true) * TWO_32;
}
