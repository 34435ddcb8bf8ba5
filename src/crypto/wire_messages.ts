// Wire layouts of the four WireGuard messages (whitepaper §5.4): the first thing decapsulate looks
// at (type and exact length) and the last thing encapsulate writes (header fields). All integers
// are little-endian; the three bytes after the type are zero.

/** Message types, read as the first little-endian u32 (so the reserved bytes must be zero). */
export const MESSAGE_INITIATION = 1;
export const MESSAGE_RESPONSE = 2;
export const MESSAGE_COOKIE_REPLY = 3;
export const MESSAGE_TRANSPORT = 4;

/** Handshake initiation: type, sender, ephemeral, {static}, {timestamp}, mac1, mac2. */
export const INITIATION_BYTES = 148;
export const INITIATION_SENDER = 4;
export const INITIATION_EPHEMERAL = 8;
export const INITIATION_STATIC = 40; // 32 + 16 tag
export const INITIATION_TIMESTAMP = 88; // 12 + 16 tag
export const INITIATION_MAC1 = 116;
export const INITIATION_MAC2 = 132;

/** Handshake response: type, sender, receiver, ephemeral, {empty}, mac1, mac2. */
export const RESPONSE_BYTES = 92;
export const RESPONSE_SENDER = 4;
export const RESPONSE_RECEIVER = 8;
export const RESPONSE_EPHEMERAL = 12;
export const RESPONSE_EMPTY = 44; // 0 + 16 tag
export const RESPONSE_MAC1 = 60;
export const RESPONSE_MAC2 = 76;

/** Cookie reply: type, receiver, nonce, {cookie}. */
export const COOKIE_REPLY_BYTES = 64;
export const COOKIE_REPLY_RECEIVER = 4;
export const COOKIE_REPLY_NONCE = 8; // 24 bytes
export const COOKIE_REPLY_COOKIE = 32; // 16 + 16 tag

/** Transport data: type, receiver, counter (u64), {packet}. */
export const TRANSPORT_HEADER_BYTES = 16;
export const TRANSPORT_RECEIVER = 4;
export const TRANSPORT_COUNTER = 8;
/** A keepalive: header and the tag of an empty payload. */
export const KEEPALIVE_BYTES = 32;

/** mac1 covers everything before it; mac2 everything before mac2. Both are 16 bytes at the end. */
export const MACS_BYTES = 32;

/** TAI64N timestamp: 8 bytes big-endian seconds (2^62 + 10 + Unix time), 4 bytes nanoseconds. */
export const TIMESTAMP_BYTES = 12;

/** Reads a little-endian u32. */
export function readU32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) |
    (bytes[offset + 3] << 24)) >>> 0;
}

/** Writes a little-endian u32. */
export function writeU32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value;
  bytes[offset + 1] = value >>> 8;
  bytes[offset + 2] = value >>> 16;
  bytes[offset + 3] = value >>> 24;
}

/** Writes the type word (type then three zero bytes). */
export function writeType(bytes: Uint8Array, type: number): void {
  bytes[0] = type;
  bytes[1] = bytes[2] = bytes[3] = 0;
}

/**
 * The message type of a datagram, or 0 when it has no valid type word. Datagrams shorter than
 * four bytes or with non-zero reserved bytes have none.
 */
export function messageType(datagram: Uint8Array): number {
  if (datagram.length < 4) return 0;
  if (datagram[1] !== 0 || datagram[2] !== 0 || datagram[3] !== 0) return 0;
  return datagram[0];
}

/** Exact length of a handshake message type, or the minimum length of transport data. */
export function expectedLength(type: number): number {
  switch (type) {
    case MESSAGE_INITIATION:
      return INITIATION_BYTES;
    case MESSAGE_RESPONSE:
      return RESPONSE_BYTES;
    case MESSAGE_COOKIE_REPLY:
      return COOKIE_REPLY_BYTES;
    case MESSAGE_TRANSPORT:
      return KEEPALIVE_BYTES;
    default:
      return -1;
  }
}

/** TAI64 labels second s as 2^62 + s; WireGuard adds the 10 s TAI-UTC offset of 1972. */
const TAI64_HIGH_BASE = 0x40000000;
const TAI_OFFSET_S = 10;
const WHITENER_NS = 0x1000000;

/**
 * Writes a TAI64N timestamp for a wall-clock time in milliseconds since the Unix epoch.
 *
 * @param wallMs Unix time in milliseconds (may carry a fraction)
 */
export function writeTai64n(out: Uint8Array, offset: number, wallMs: number): void {
  const seconds = Math.floor(wallMs / 1000);
  let nanos = Math.floor((wallMs - seconds * 1000) * 1e6);
  nanos -= nanos % WHITENER_NS;
  // 2^62 + 10 + seconds exceeds 2^53: write the high and low 32-bit halves separately.
  const total = TAI_OFFSET_S + seconds;
  const low = total >>> 0;
  const highWord = TAI64_HIGH_BASE + (total - low) / 4294967296;
  out[offset] = highWord >>> 24;
  out[offset + 1] = highWord >>> 16;
  out[offset + 2] = highWord >>> 8;
  out[offset + 3] = highWord;
  out[offset + 4] = low >>> 24;
  out[offset + 5] = low >>> 16;
  out[offset + 6] = low >>> 8;
  out[offset + 7] = low;
  out[offset + 8] = nanos >>> 24;
  out[offset + 9] = nanos >>> 16;
  out[offset + 10] = nanos >>> 8;
  out[offset + 11] = nanos;
}

/** Whether TAI64N `a` is strictly later than `b` (both 12 bytes, big-endian, compare bytewise). */
export function tai64nAfter(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < TIMESTAMP_BYTES; i++) {
    if (a[i] !== b[i]) return a[i] > b[i];
  }
  return false;
}
