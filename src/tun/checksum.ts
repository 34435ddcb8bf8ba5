// The Internet checksum (RFC 1071) as TCP/IP uses it, for the packets burrow builds or rebuilds
// itself when the TUN hands over work the kernel left undone (tso_split.ts) or takes back
// coalesced packets (tcp_coalesce.ts).

/** IP protocol numbers the offload code looks at. */
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

/**
 * Adds the big-endian 16-bit words of `bytes[start…end)` to `sum` (an odd last byte is padded
 * with zero). The sum is left unfolded: a 64 KB packet stays far below 2^53.
 */
export function sumWords(bytes: Uint8Array, start: number, end: number, sum = 0): number {
  let i = start;
  const pairs = end - ((end - start) & 1);
  // Four words per turn: fewer loop checks on the hot path (every segment's payload).
  for (; i + 8 <= pairs; i += 8) {
    sum += ((bytes[i] << 8) | bytes[i + 1]) + ((bytes[i + 2] << 8) | bytes[i + 3]) +
      ((bytes[i + 4] << 8) | bytes[i + 5]) + ((bytes[i + 6] << 8) | bytes[i + 7]);
  }
  for (; i < pairs; i += 2) sum += (bytes[i] << 8) | bytes[i + 1];
  if (i < end) sum += bytes[i] << 8;
  return sum;
}

/** Folds a sum to 16 bits (ones' complement addition of the carries). */
export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/**
 * The pseudo-header sum (unfolded) of the packet `packet` for a transport segment of
 * `transportLength` bytes: source and destination address, protocol, length.
 */
export function pseudoHeaderSum(
  packet: Uint8Array,
  start: number,
  protocol: number,
  transportLength: number,
): number {
  const v4 = packet[start] >> 4 === 4;
  const addresses = v4 ? start + 12 : start + 8;
  const end = addresses + (v4 ? 8 : 32);
  return sumWords(packet, addresses, end, protocol + transportLength);
}

/** Writes a fresh IPv4 header checksum into the header at `packet[start…]`. */
export function setIpv4HeaderChecksum(packet: Uint8Array, start: number): void {
  const length = (packet[start] & 0x0f) * 4;
  packet[start + 10] = 0;
  packet[start + 11] = 0;
  const check = ~fold(sumWords(packet, start, start + length)) & 0xffff;
  packet[start + 10] = check >> 8;
  packet[start + 11] = check & 0xff;
}

/**
 * Writes the full checksum of the transport segment `packet[l4…end)` (TCP or UDP, pseudo-header
 * included) at `l4 + checksumOffset`.
 */
export function setTransportChecksum(
  packet: Uint8Array,
  start: number,
  l4: number,
  end: number,
  protocol: number,
  checksumOffset: number,
): void {
  const at = l4 + checksumOffset;
  packet[at] = 0;
  packet[at + 1] = 0;
  let check = ~fold(
    sumWords(packet, l4, end, pseudoHeaderSum(packet, start, protocol, end - l4)),
  ) & 0xffff;
  // UDP sends a computed zero as all ones (zero means "no checksum").
  if (check === 0 && protocol === PROTO_UDP) check = 0xffff;
  packet[at] = check >> 8;
  packet[at + 1] = check & 0xff;
}

/** Whether the transport segment `packet[l4…end)` carries a correct checksum. */
export function transportChecksumValid(
  packet: Uint8Array,
  start: number,
  l4: number,
  end: number,
  protocol: number,
): boolean {
  return fold(sumWords(packet, l4, end, pseudoHeaderSum(packet, start, protocol, end - l4))) ===
    0xffff;
}
