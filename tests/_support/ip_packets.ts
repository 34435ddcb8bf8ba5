// Packet builders for device tests: IPv4 ICMP echo requests and replies with valid checksums, and
// a reader for them, so a test can ping through a device it plays the kernel for.

const IPV4_HEADER_BYTES = 20;
const ICMP_HEADER_BYTES = 8;
const PROTOCOL_ICMP = 1;
const ICMP_ECHO_REPLY = 0;
const ICMP_ECHO_REQUEST = 8;

/** An ICMP echo as a test sees it. */
export interface IcmpEcho {
  source: string;
  destination: string;
  kind: "request" | "reply";
  id: number;
  sequence: number;
  payload: Uint8Array;
}

function checksum(bytes: Uint8Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i += 2) sum += (bytes[i] << 8) | (i + 1 < end ? bytes[i + 1] : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipv4Bytes(text: string): number[] {
  const parts = text.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) {
    throw new TypeError(`Cannot build the packet: not an IPv4 address, received ${text}`);
  }
  return parts;
}

/** An IPv4 ICMP echo packet (request or reply) with checksums filled in. */
export function icmpEcho(echo: Omit<IcmpEcho, "payload"> & { payload?: Uint8Array }): Uint8Array {
  const payload = echo.payload ?? new TextEncoder().encode("burrow ping");
  const packet = new Uint8Array(IPV4_HEADER_BYTES + ICMP_HEADER_BYTES + payload.length);
  const view = new DataView(packet.buffer);
  packet[0] = 0x45; // version 4, 5 words of header
  view.setUint16(2, packet.length);
  packet[8] = 64; // TTL
  packet[9] = PROTOCOL_ICMP;
  packet.set(ipv4Bytes(echo.source), 12);
  packet.set(ipv4Bytes(echo.destination), 16);
  view.setUint16(10, checksum(packet, 0, IPV4_HEADER_BYTES));
  packet[IPV4_HEADER_BYTES] = echo.kind === "request" ? ICMP_ECHO_REQUEST : ICMP_ECHO_REPLY;
  view.setUint16(IPV4_HEADER_BYTES + 4, echo.id);
  view.setUint16(IPV4_HEADER_BYTES + 6, echo.sequence);
  packet.set(payload, IPV4_HEADER_BYTES + ICMP_HEADER_BYTES);
  view.setUint16(IPV4_HEADER_BYTES + 2, checksum(packet, IPV4_HEADER_BYTES, packet.length));
  return packet;
}

/** The echo in `packet`, or null when it is no IPv4 ICMP echo with valid checksums. */
export function readIcmpEcho(packet: Uint8Array): IcmpEcho | null {
  if (packet.length < IPV4_HEADER_BYTES + ICMP_HEADER_BYTES || packet[0] !== 0x45) return null;
  if (packet[9] !== PROTOCOL_ICMP) return null;
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  const length = view.getUint16(2);
  if (length > packet.length) return null;
  if (checksum(packet, 0, IPV4_HEADER_BYTES) !== 0) return null;
  if (checksum(packet, IPV4_HEADER_BYTES, length) !== 0) return null;
  const type = packet[IPV4_HEADER_BYTES];
  if (type !== ICMP_ECHO_REQUEST && type !== ICMP_ECHO_REPLY) return null;
  return {
    source: Array.from(packet.subarray(12, 16)).join("."),
    destination: Array.from(packet.subarray(16, 20)).join("."),
    kind: type === ICMP_ECHO_REQUEST ? "request" : "reply",
    id: view.getUint16(IPV4_HEADER_BYTES + 4),
    sequence: view.getUint16(IPV4_HEADER_BYTES + 6),
    payload: packet.slice(IPV4_HEADER_BYTES + ICMP_HEADER_BYTES, length),
  };
}

/** What a kernel answers to an echo request: the reply with addresses swapped. */
export function icmpEchoReplyTo(request: IcmpEcho): Uint8Array {
  return icmpEcho({
    source: request.destination,
    destination: request.source,
    kind: "reply",
    id: request.id,
    sequence: request.sequence,
    payload: request.payload,
  });
}
