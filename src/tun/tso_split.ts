// Reads from a TUN opened with IFF_VNET_HDR and TCP segmentation offload (tun_offload.ts): each
// read starts with a virtio_net_hdr, and a TCP packet may be a "super-packet" of up to 64 KB that
// the kernel left for us to cut into MTU-size segments (as a NIC would). One read then replaces
// ~45, and the kernel's TCP stack does the work once per 64 KB instead of once per segment.
//
//   load(length)  the header says what the kernel left undone:
//                 gso_type NONE, flag NEEDS_CSUM: finish the checksum (the field holds the
//                   pseudo-header sum; add the words from csum_start to the end);
//                 gso_type TCPV4 / TCPV6: segments of gso_size payload bytes each;
//                 anything else (UDP offloads were not offered) is dropped.
//   next(out)     writes the next plain IP packet: the headers copied, then a chunk of payload;
//                 IPv4 total length, id (+1 per segment) and header checksum, IPv6 payload length,
//                 TCP sequence number, FIN/PSH only on the last segment, CWR only on the first,
//                 and the full TCP checksum.
//
// One buffer of 64 KB serves every read; the segments go into the ring's ordinary slots.

import {
  fold,
  PROTO_TCP,
  pseudoHeaderSum,
  setIpv4HeaderChecksum,
  setTransportChecksum,
  sumWords,
} from "./checksum.ts";
import { copyBytes } from "./bytes.ts";

/** Size of the virtio_net_hdr the TUN puts before each packet (no num_buffers field). */
export const VNET_HDR_BYTES = 10;
/** virtio_net_hdr flags. */
export const VNET_F_NEEDS_CSUM = 1;
export const VNET_F_DATA_VALID = 2;
/** virtio_net_hdr gso_type values. */
export const GSO_NONE = 0;
export const GSO_TCPV4 = 1;
export const GSO_TCPV6 = 4;
export const GSO_ECN = 0x80;
/** The largest IP packet (IPv6 payload of 65535 after its 40-byte header), header in front. */
export const SUPER_PACKET_BYTES = VNET_HDR_BYTES + 40 + 65535;

/** TCP flag bits the offloads look at. */
export const TCP_FIN = 0x01;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_CWR = 0x80;

/** The fields of a virtio_net_hdr (little-endian, as the TUN uses on this host). */
export interface VnetHeader {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

/** Reads the header at `bytes[0…10)`. */
export function readVnetHeader(bytes: Uint8Array): VnetHeader {
  return {
    flags: bytes[0],
    gsoType: bytes[1],
    hdrLen: bytes[2] | (bytes[3] << 8),
    gsoSize: bytes[4] | (bytes[5] << 8),
    csumStart: bytes[6] | (bytes[7] << 8),
    csumOffset: bytes[8] | (bytes[9] << 8),
  };
}

/** Writes `header` at `bytes[0…10)`. */
export function writeVnetHeader(bytes: Uint8Array, header: VnetHeader): void {
  bytes[0] = header.flags;
  bytes[1] = header.gsoType;
  bytes[2] = header.hdrLen & 0xff;
  bytes[3] = header.hdrLen >> 8;
  bytes[4] = header.gsoSize & 0xff;
  bytes[5] = header.gsoSize >> 8;
  bytes[6] = header.csumStart & 0xff;
  bytes[7] = header.csumStart >> 8;
  bytes[8] = header.csumOffset & 0xff;
  bytes[9] = header.csumOffset >> 8;
}

/** Cuts what one vnet-header TUN read returned into plain IP packets. */
export class SuperPacketSplitter {
  /** Read the TUN into this (header and packet). */
  readonly buffer = new Uint8Array(SUPER_PACKET_BYTES);
  /** Bytes of the packet (after the header); 0 when nothing is pending. */
  #length = 0;
  /** Offset (in the packet) of the next segment's payload, or -1 for a whole packet. */
  #next = 0;
  #segment = 0;
  #gsoSize = 0;
  #l4 = 0;
  #headers = 0;
  #ipId = 0;
  #seq = 0;
  #flags = 0;
  #v4 = true;

  /** Whether packets of the last load are still waiting for {@linkcode next}. */
  get pending(): boolean {
    return this.#length > 0;
  }

  /**
   * Takes a read of `length` bytes (header included) in {@linkcode buffer}.
   *
   * @returns false when it was dropped (malformed, or an offload that was not offered)
   */
  load(length: number): boolean {
    this.#length = 0;
    const bytes = this.buffer;
    if (length <= VNET_HDR_BYTES) return false;
    const size = length - VNET_HDR_BYTES;
    const gsoType = bytes[1] & ~GSO_ECN;
    if (gsoType === GSO_NONE && (bytes[0] & VNET_F_NEEDS_CSUM) === 0) {
      // Complete as it is (a ping, a UDP datagram): nothing to parse.
      this.#length = size;
      this.#next = -1;
      return true;
    }
    const header = readVnetHeader(bytes);
    const packet = bytes.subarray(VNET_HDR_BYTES, length);
    const version = packet[0] >> 4;
    if (gsoType === GSO_NONE) {
      if ((header.flags & VNET_F_NEEDS_CSUM) !== 0) {
        const at = header.csumStart + header.csumOffset;
        if (at + 2 > size || header.csumStart >= size) return false;
        // The field holds the pseudo-header sum; the words after csum_start complete it.
        const check = ~fold(sumWords(packet, header.csumStart, size)) & 0xffff;
        packet[at] = check >> 8;
        packet[at + 1] = check & 0xff;
      }
      this.#length = size;
      this.#next = -1;
      return true;
    }
    if (gsoType !== GSO_TCPV4 && gsoType !== GSO_TCPV6) return false;
    const v4 = gsoType === GSO_TCPV4;
    if (version !== (v4 ? 4 : 6)) return false;
    let l4: number;
    if (v4) {
      if (size < 20 || packet[9] !== PROTO_TCP) return false;
      l4 = (packet[0] & 0x0f) * 4;
    } else {
      // Extension headers: trust csum_start, which the kernel sets to the TCP header.
      l4 = (header.flags & VNET_F_NEEDS_CSUM) !== 0 ? header.csumStart : 40;
      if (size < 40 || (l4 === 40 && packet[6] !== PROTO_TCP)) return false;
    }
    if (l4 < (v4 ? 20 : 40) || l4 + 20 > size) return false;
    const headers = l4 + (packet[l4 + 12] >> 4) * 4;
    if (headers < l4 + 20 || headers > size || header.gsoSize === 0) return false;
    const view = new DataView(packet.buffer, packet.byteOffset);
    this.#v4 = v4;
    this.#l4 = l4;
    this.#headers = headers;
    this.#gsoSize = header.gsoSize;
    this.#ipId = v4 ? view.getUint16(4) : 0;
    this.#seq = view.getUint32(l4 + 4);
    this.#flags = packet[l4 + 13];
    this.#segment = 0;
    this.#next = headers;
    this.#length = size;
    return true;
  }

  /**
   * Writes the next packet into `out` from offset 0.
   *
   * @returns its length, or 0 when the load is used up
   */
  next(out: Uint8Array): number {
    const length = this.#length;
    if (length === 0) return 0;
    if (this.#next < 0) {
      this.#length = 0;
      copyBytes(out, 0, this.buffer, VNET_HDR_BYTES, length);
      return length;
    }
    const packet = this.buffer.subarray(VNET_HDR_BYTES, VNET_HDR_BYTES + length);
    const start = this.#next;
    const chunk = Math.min(this.#gsoSize, length - start);
    const last = start + chunk >= length;
    const headers = this.#headers, l4 = this.#l4;
    out.set(packet.subarray(0, headers));
    out.set(packet.subarray(start, start + chunk), headers);
    const total = headers + chunk;
    const view = new DataView(out.buffer, out.byteOffset);
    const index = this.#segment;
    if (this.#v4) {
      view.setUint16(2, total);
      view.setUint16(4, (this.#ipId + index) & 0xffff);
      setIpv4HeaderChecksum(out, 0);
    } else {
      view.setUint16(4, total - 40);
    }
    view.setUint32(l4 + 4, (this.#seq + (start - headers)) >>> 0);
    let flags = this.#flags;
    if (!last) flags &= ~(TCP_FIN | TCP_PSH);
    if (index > 0) flags &= ~TCP_CWR;
    out[l4 + 13] = flags;
    setTransportChecksum(out, 0, l4, total, PROTO_TCP, 16);
    this.#segment = index + 1;
    this.#next = start + chunk;
    if (last) this.#length = 0;
    return total;
  }
}

/** The pseudo-header sum a coalesced TCP packet carries with NEEDS_CSUM (folded, not inverted). */
export function partialTcpChecksum(packet: Uint8Array, l4: number, total: number): number {
  return fold(pseudoHeaderSum(packet, 0, PROTO_TCP, total - l4));
}
