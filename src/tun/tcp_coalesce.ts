// The receive side of the TUN offloads: decrypted TCP segments of one flow that arrive in order
// are joined into one super-packet and written to the TUN once, with a virtio_net_hdr that tells
// the kernel their segment size (GSO) and that the checksum is still to be completed. The kernel's
// TCP stack then handles one packet where it would have handled ~45 (what GRO does on a NIC).
//
// Rules (as Linux GRO): a segment joins the pending super-packet only when
//   - it comes from the same peer (never across peers), same IP version, addresses and ports;
//   - IPv4 without options or fragments, IPv6 without extension headers; same TOS/TTL (IPv4) or
//     traffic class, flow label and hop limit (IPv6);
//   - same TCP header length and options, same acknowledgement number, flags ACK (and PSH) only;
//   - its sequence number continues the pending one exactly, its payload is no larger than the
//     first segment's (the gso_size), and the result stays within 64 KB;
//   - its own checksum verifies (the kernel would have dropped it; joined, nobody would check).
// A segment shorter than the first, or with PSH, ends the super-packet. Anything else flushes
// what is pending and goes out alone, so the order of packets is kept exactly. The engine
// flushes at the end of every receive batch, so nothing waits for a later batch.

import { PROTO_TCP, setIpv4HeaderChecksum, transportChecksumValid } from "./checksum.ts";
import {
  GSO_TCPV4,
  GSO_TCPV6,
  partialTcpChecksum,
  SUPER_PACKET_BYTES,
  TCP_ACK,
  TCP_PSH,
  VNET_F_NEEDS_CSUM,
  VNET_HDR_BYTES,
  writeVnetHeader,
} from "./tso_split.ts";
import { copyBytes } from "./bytes.ts";

/** The largest IPv4 total length, or IPv6 payload length. */
const IP_LENGTH_MAX = 65535;
/** Segments in one super-packet, at most (the kernel's UDP_MAX_SEGMENTS-like bound for GSO). */
const SEGMENTS_MAX = 64;

/** Where one TCP segment's parts are, or null when it cannot be coalesced. */
interface Segment {
  v4: boolean;
  l4: number;
  headers: number;
  total: number;
}

function coalescable(packet: Uint8Array, length: number): Segment | null {
  if (length < 40) return null;
  const version = packet[0] >> 4;
  let l4: number, total: number;
  if (version === 4) {
    if (packet[0] !== 0x45 || packet[9] !== PROTO_TCP) return null;
    // MF set or a fragment offset: a fragment.
    if (((packet[6] & 0x3f) | packet[7]) !== 0) return null;
    total = (packet[2] << 8) | packet[3];
    l4 = 20;
  } else if (version === 6) {
    if (packet[6] !== PROTO_TCP) return null;
    total = 40 + ((packet[4] << 8) | packet[5]);
    l4 = 40;
  } else {
    return null;
  }
  if (total > length || total < l4 + 20) return null;
  const headers = l4 + (packet[l4 + 12] >> 4) * 4;
  if (headers < l4 + 20 || headers >= total) return null; // no payload: nothing to join
  const flags = packet[l4 + 13];
  if ((flags & ~(TCP_ACK | TCP_PSH)) !== 0 || (flags & TCP_ACK) === 0) return null;
  if (!transportChecksumValid(packet, 0, l4, total, PROTO_TCP)) return null;
  return { v4: version === 4, l4, headers, total };
}

function sameBytes(a: Uint8Array, b: Uint8Array, start: number, end: number, bStart = start) {
  for (let i = start, j = bStart; i < end; i++, j++) if (a[i] !== b[j]) return false;
  return true;
}

/** Joins in-order TCP segments of one flow; hands every write to `write` (header included). */
export class TcpCoalescer {
  /** The pending super-packet, behind room for its virtio_net_hdr. */
  readonly buffer = new Uint8Array(SUPER_PACKET_BYTES);
  /** Bytes of the pending packet (0: none). */
  #length = 0;
  #peer: unknown = null;
  #v4 = true;
  #l4 = 0;
  #headers = 0;
  #gsoSize = 0;
  #segments = 0;
  #nextSeq = 0;
  /** The pending packet takes no more segments (a short one or PSH came). */
  #closed = false;

  /** @param write writes `bytes[0…length)` (a virtio_net_hdr, then the packet) to the TUN */
  constructor(readonly write: (bytes: Uint8Array, length: number) => void) {}

  /** Packets written as super-packets of more than one segment, since the start. */
  joined = 0;

  /** Takes one decrypted packet `packet[0…length)` from `peer`. */
  push(packet: Uint8Array, length: number, peer: unknown): void {
    const segment = coalescable(packet, length);
    if (segment && this.#length > 0 && this.#joins(packet, segment, peer)) return;
    this.flush();
    const buffer = this.buffer;
    const size = segment ? segment.total : length;
    for (let i = 0; i < VNET_HDR_BYTES; i++) buffer[i] = 0;
    copyBytes(buffer, VNET_HDR_BYTES, packet, 0, size);
    if (!segment) {
      this.write(buffer, VNET_HDR_BYTES + size);
      return;
    }
    this.#length = size;
    this.#peer = peer;
    this.#v4 = segment.v4;
    this.#l4 = segment.l4;
    this.#headers = segment.headers;
    this.#gsoSize = size - segment.headers;
    this.#segments = 1;
    this.#nextSeq = (this.#seqOf(packet, segment.l4) + this.#gsoSize) >>> 0;
    this.#closed = (packet[segment.l4 + 13] & TCP_PSH) !== 0;
  }

  #seqOf(bytes: Uint8Array, l4: number): number {
    return ((bytes[l4 + 4] << 24) | (bytes[l4 + 5] << 16) | (bytes[l4 + 6] << 8) |
      bytes[l4 + 7]) >>> 0;
  }

  #joins(packet: Uint8Array, segment: Segment, peer: unknown): boolean {
    const head = this.buffer.subarray(VNET_HDR_BYTES);
    const l4 = this.#l4, headers = this.#headers;
    if (this.#closed || peer !== this.#peer || segment.v4 !== this.#v4) return false;
    if (segment.headers !== headers || this.#segments >= SEGMENTS_MAX) return false;
    const payload = segment.total - headers;
    if (payload > this.#gsoSize) return false;
    const ipLength = this.#length + payload - (this.#v4 ? 0 : 40);
    if (ipLength > IP_LENGTH_MAX) return false;
    if (this.#seqOf(packet, l4) !== this.#nextSeq) return false;
    if (this.#v4) {
      // TOS, TTL and protocol, then addresses.
      if (packet[1] !== head[1] || packet[8] !== head[8]) return false;
      if (!sameBytes(packet, head, 12, 20)) return false;
    } else {
      // Version, traffic class and flow label; hop limit; addresses.
      if (!sameBytes(packet, head, 0, 4) || packet[7] !== head[7]) return false;
      if (!sameBytes(packet, head, 8, 40)) return false;
    }
    // Ports, then the acknowledgement number, then the options.
    if (!sameBytes(packet, head, l4, l4 + 4)) return false;
    if (!sameBytes(packet, head, l4 + 8, l4 + 12)) return false;
    if (!sameBytes(packet, head, l4 + 20, headers)) return false;
    head.set(packet.subarray(headers, segment.total), this.#length);
    this.#length += payload;
    this.#segments++;
    this.#nextSeq = (this.#nextSeq + payload) >>> 0;
    const push = (packet[l4 + 13] & TCP_PSH) !== 0;
    if (push) head[l4 + 13] |= TCP_PSH;
    if (push || payload < this.#gsoSize) this.#closed = true;
    return true;
  }

  /** Writes what is pending. */
  flush(): void {
    const length = this.#length;
    if (length === 0) return;
    this.#length = 0;
    this.#peer = null;
    const buffer = this.buffer;
    if (this.#segments === 1) {
      buffer.fill(0, 0, VNET_HDR_BYTES);
      this.write(buffer, VNET_HDR_BYTES + length);
      return;
    }
    this.joined += this.#segments;
    const packet = buffer.subarray(VNET_HDR_BYTES);
    const l4 = this.#l4;
    if (this.#v4) {
      packet[2] = length >> 8;
      packet[3] = length & 0xff;
      setIpv4HeaderChecksum(packet, 0);
    } else {
      packet[4] = (length - 40) >> 8;
      packet[5] = (length - 40) & 0xff;
    }
    const partial = partialTcpChecksum(packet, l4, length);
    packet[l4 + 16] = partial >> 8;
    packet[l4 + 17] = partial & 0xff;
    writeVnetHeader(buffer, {
      flags: VNET_F_NEEDS_CSUM,
      gsoType: this.#v4 ? GSO_TCPV4 : GSO_TCPV6,
      hdrLen: this.#headers,
      gsoSize: this.#gsoSize,
      csumStart: l4,
      csumOffset: 16,
    });
    this.write(buffer, VNET_HDR_BYTES + length);
  }
}
