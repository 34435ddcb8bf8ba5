// Test helper: IPv4 and IPv6 TCP packets built by hand, checksums filled in (the offload tests).

import { PROTO_TCP, setIpv4HeaderChecksum, setTransportChecksum } from "../../src/tun/checksum.ts";

export const TCP_ACK = 0x10;
export const TCP_PSH = 0x08;

/** What a hand-built TCP packet carries; addresses are 4 or 16 bytes (their length picks v4/v6). */
export interface TcpSpec {
  source: Uint8Array;
  destination: Uint8Array;
  sourcePort: number;
  destinationPort: number;
  seq: number;
  ack: number;
  /** @default ACK */
  flags?: number;
  options?: number[];
  payload: Uint8Array;
  /** IPv4 id. */
  id?: number;
  /** IPv4 TOS. */
  tos?: number;
  /** IPv4 header options (4 bytes more header). */
  ipOptions?: boolean;
  /** IPv4 "more fragments". */
  fragment?: boolean;
  /** @default 65535 */
  window?: number;
}

/** The packet, with valid IPv4 header and TCP checksums. */
export function tcpPacket(spec: TcpSpec): Uint8Array {
  const v4 = spec.source.length === 4;
  const ipHeader = v4 ? (spec.ipOptions ? 24 : 20) : 40;
  const options = spec.options ?? [];
  const tcpHeader = 20 + options.length;
  const total = ipHeader + tcpHeader + spec.payload.length;
  const packet = new Uint8Array(total);
  const view = new DataView(packet.buffer);
  if (v4) {
    packet[0] = 0x40 | (ipHeader / 4);
    packet[1] = spec.tos ?? 0;
    view.setUint16(2, total);
    view.setUint16(4, spec.id ?? 0);
    packet[6] = spec.fragment ? 0x20 : 0x40; // MF, or DF
    packet[8] = 64;
    packet[9] = PROTO_TCP;
    packet.set(spec.source, 12);
    packet.set(spec.destination, 16);
    setIpv4HeaderChecksum(packet, 0);
  } else {
    packet[0] = 0x60;
    view.setUint16(4, total - 40);
    packet[6] = PROTO_TCP;
    packet[7] = 64;
    packet.set(spec.source, 8);
    packet.set(spec.destination, 24);
  }
  const l4 = ipHeader;
  view.setUint16(l4, spec.sourcePort);
  view.setUint16(l4 + 2, spec.destinationPort);
  view.setUint32(l4 + 4, spec.seq >>> 0);
  view.setUint32(l4 + 8, spec.ack >>> 0);
  packet[l4 + 12] = (tcpHeader / 4) << 4;
  packet[l4 + 13] = spec.flags ?? TCP_ACK;
  view.setUint16(l4 + 14, spec.window ?? 65535);
  packet.set(options, l4 + 20);
  packet.set(spec.payload, l4 + tcpHeader);
  setTransportChecksum(packet, 0, l4, total, PROTO_TCP, 16);
  return packet;
}
