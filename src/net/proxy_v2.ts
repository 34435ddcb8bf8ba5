// PROXY protocol version 2 (haproxy's proxy-protocol.txt, section 2.2): the binary header the
// hub writes in front of every relayed connection so the agent learns the client's real
// address. Pure: encode to bytes, decode from bytes, nothing thrown for bad input.

import { formatIp, parseIp } from "./ip.ts";

/** The 12-byte signature every v2 header starts with. */
export const PROXY_V2_SIGNATURE = new Uint8Array([
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
]);
/** Largest header accepted when decoding (fixed part plus addresses plus TLVs). */
export const PROXY_V2_MAX_BYTES = 16 + 536;

export interface ProxyAddress {
  /** Dotted quad or IPv6 text. */
  address: string;
  port: number;
}

export interface ProxyHeader {
  command: "proxy" | "local";
  transport: "tcp" | "udp" | "unspec";
  /** null for LOCAL or an unspecified family. */
  source: ProxyAddress | null;
  destination: ProxyAddress | null;
}

export type ProxyDecodeResult =
  | { kind: "need-more" }
  | { kind: "invalid"; reason: string }
  | { kind: "header"; header: ProxyHeader; length: number };

const VERSION_2 = 0x20;
const COMMAND_LOCAL = 0x0;
const COMMAND_PROXY = 0x1;
const FAMILY_INET = 0x1;
const FAMILY_INET6 = 0x2;
const TRANSPORT_STREAM = 0x1;
const TRANSPORT_DGRAM = 0x2;

/**
 * Builds a PROXY command header. Mixed families are sent as IPv6 (IPv4 as ::ffff:a.b.c.d).
 *
 * @throws {TypeError} when an address cannot be parsed (a caller bug: addresses come from sockets)
 */
export function encodeProxyV2(
  source: ProxyAddress,
  destination: ProxyAddress,
  transport: "tcp" | "udp" = "tcp",
): Uint8Array {
  let src = parseIp(source.address);
  let dst = parseIp(destination.address);
  if (!src || !dst) {
    throw new TypeError(
      `Cannot encode a PROXY header: bad address, received ${source.address} -> ${destination.address}`,
    );
  }
  if (src.length !== dst.length) {
    src = toV6(src);
    dst = toV6(dst);
  }
  const v4 = src.length === 4;
  const addressLength = v4 ? 12 : 36;
  const out = new Uint8Array(16 + addressLength);
  out.set(PROXY_V2_SIGNATURE, 0);
  out[12] = VERSION_2 | COMMAND_PROXY;
  out[13] = ((v4 ? FAMILY_INET : FAMILY_INET6) << 4) |
    (transport === "tcp" ? TRANSPORT_STREAM : TRANSPORT_DGRAM);
  out[14] = addressLength >> 8;
  out[15] = addressLength & 0xff;
  out.set(src, 16);
  out.set(dst, 16 + src.length);
  const ports = 16 + src.length * 2;
  out[ports] = source.port >> 8;
  out[ports + 1] = source.port & 0xff;
  out[ports + 2] = destination.port >> 8;
  out[ports + 3] = destination.port & 0xff;
  return out;
}

/** A LOCAL header: the connection comes from the proxy itself (health checks). */
export function encodeProxyV2Local(): Uint8Array {
  const out = new Uint8Array(16);
  out.set(PROXY_V2_SIGNATURE, 0);
  out[12] = VERSION_2 | COMMAND_LOCAL;
  return out;
}

/**
 * Decodes a header at the start of `data`.
 *
 * @returns the header and its length in bytes, `need-more`, or `invalid` with a reason
 */
export function decodeProxyV2(data: Uint8Array): ProxyDecodeResult {
  const prefix = Math.min(data.length, 12);
  for (let i = 0; i < prefix; i++) {
    if (data[i] !== PROXY_V2_SIGNATURE[i]) {
      return { kind: "invalid", reason: "no PROXY v2 signature" };
    }
  }
  if (data.length < 16) return { kind: "need-more" };
  if ((data[12] & 0xf0) !== VERSION_2) return { kind: "invalid", reason: "not PROXY version 2" };
  const command = data[12] & 0x0f;
  if (command !== COMMAND_LOCAL && command !== COMMAND_PROXY) {
    return { kind: "invalid", reason: "unknown PROXY command" };
  }
  const length = (data[14] << 8) | data[15];
  if (16 + length > PROXY_V2_MAX_BYTES) return { kind: "invalid", reason: "PROXY header too long" };
  if (data.length < 16 + length) return { kind: "need-more" };
  const family = data[13] >> 4;
  const transportBits = data[13] & 0x0f;
  const transport = transportBits === TRANSPORT_STREAM
    ? "tcp"
    : transportBits === TRANSPORT_DGRAM
    ? "udp"
    : "unspec";
  const header: ProxyHeader = {
    command: command === COMMAND_PROXY ? "proxy" : "local",
    transport,
    source: null,
    destination: null,
  };
  if (command === COMMAND_PROXY && (family === FAMILY_INET || family === FAMILY_INET6)) {
    const size = family === FAMILY_INET ? 4 : 16;
    if (length < size * 2 + 4) return { kind: "invalid", reason: "PROXY address block too short" };
    const src = data.slice(16, 16 + size);
    const dst = data.slice(16 + size, 16 + size * 2);
    const ports = 16 + size * 2;
    header.source = { address: formatIp(src), port: (data[ports] << 8) | data[ports + 1] };
    header.destination = {
      address: formatIp(dst),
      port: (data[ports + 2] << 8) | data[ports + 3],
    };
  }
  return { kind: "header", header, length: 16 + length };
}

function toV6(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 16) return bytes;
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(bytes, 12);
  return out;
}
