// The network end of the device: non-blocking UDP sockets through libc (one IPv4, one IPv6-only,
// same port) and the sockaddr encoding shared by the readers and the sender.

import { formatIp, parseIp } from "../net/mod.ts";
import {
  AF_INET,
  AF_INET6,
  EADDRINUSE,
  errno,
  IP_PKTINFO,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_RECVPKTINFO,
  IPV6_V6ONLY,
  libc,
  SO_MARK,
  SO_RCVBUFFORCE,
  SO_SNDBUFFORCE,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
  SyscallError,
} from "./libc.ts";

/** Where a datagram came from or goes to (the core's Endpoint shape). */
export interface UdpEndpoint {
  address: string;
  port: number;
}

/** The socket pair of a device; either may be -1 when that family is unavailable. */
export interface UdpSockets {
  fd4: number;
  fd6: number;
  port: number;
}

export const SOCKADDR_IN_SIZE = 16;
export const SOCKADDR_IN6_SIZE = 28;
const SOCKET_BUFFER_BYTES = 7 << 20;
const EAFNOSUPPORT = 97;

function int32Option(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setInt32(0, value, true);
  return bytes;
}

function openOne(family: number, port: number, fwmark: number): number {
  const c = libc();
  const fd = c.socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SyscallError("socket", errno());
  // Large buffers keep bursts from being dropped while the engine is busy (as wireguard-go does).
  c.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, int32Option(SOCKET_BUFFER_BYTES), 4);
  c.setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, int32Option(SOCKET_BUFFER_BYTES), 4);
  if (fwmark !== 0) c.setsockopt(fd, SOL_SOCKET, SO_MARK, int32Option(fwmark), 4);
  if (family === AF_INET6) c.setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, int32Option(1), 4);
  // Each datagram says which local address it came to, so replies leave from it (udp_sticky.ts).
  if (family === AF_INET) c.setsockopt(fd, IPPROTO_IP, IP_PKTINFO, int32Option(1), 4);
  else c.setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, int32Option(1), 4);
  const address = family === AF_INET
    ? encodeSockaddr({ address: "0.0.0.0", port })
    : encodeSockaddr({ address: "::", port });
  if (c.bind(fd, address, address.length) < 0) {
    const code = errno();
    c.close(fd);
    throw new SyscallError("bind", code);
  }
  return fd;
}

function boundPort(fd: number): number {
  const address = new Uint8Array(SOCKADDR_IN6_SIZE);
  const length = int32Option(SOCKADDR_IN6_SIZE);
  if (libc().getsockname(fd, address, length) < 0) throw new SyscallError("getsockname", errno());
  return (address[2] << 8) | address[3];
}

/**
 * Binds an IPv4 and an IPv6-only socket to the same port (0: a random port free in both).
 *
 * @throws {SyscallError} errno EADDRINUSE when the port is taken
 */
export function openUdpSockets(port: number, fwmark = 0): UdpSockets {
  for (let attempt = 0;; attempt++) {
    const fd4 = openOne(AF_INET, port, fwmark);
    const actual = boundPort(fd4);
    try {
      const fd6 = openOne(AF_INET6, actual, fwmark);
      return { fd4, fd6, port: actual };
    } catch (error) {
      if (error instanceof SyscallError && error.errno === EAFNOSUPPORT) {
        return { fd4, fd6: -1, port: actual };
      }
      libc().close(fd4);
      // A random port free for IPv4 may be taken for IPv6: draw again.
      const retry = port === 0 && error instanceof SyscallError && error.errno === EADDRINUSE;
      if (!retry || attempt >= 10) throw error;
    }
  }
}

/** Sets SO_MARK on both sockets (UAPI fwmark). */
export function setFwmark(sockets: UdpSockets, fwmark: number): void {
  for (const fd of [sockets.fd4, sockets.fd6]) {
    if (fd >= 0) libc().setsockopt(fd, SOL_SOCKET, SO_MARK, int32Option(fwmark), 4);
  }
}

/** Closes both sockets. */
export function closeUdpSockets(sockets: UdpSockets): void {
  if (sockets.fd4 >= 0) libc().close(sockets.fd4);
  if (sockets.fd6 >= 0) libc().close(sockets.fd6);
}

/**
 * A sockaddr_in or sockaddr_in6 for `endpoint` (IPv4 addresses in IPv6 form stay IPv6).
 *
 * @throws {TypeError} when the address is not an IP literal
 */
export function encodeSockaddr(endpoint: UdpEndpoint): Uint8Array {
  const bytes = parseIp(endpoint.address);
  if (!bytes) {
    throw new TypeError(`Cannot use the endpoint: not an IP address, received ${endpoint.address}`);
  }
  const out = new Uint8Array(bytes.length === 4 ? SOCKADDR_IN_SIZE : SOCKADDR_IN6_SIZE);
  const view = new DataView(out.buffer);
  view.setUint16(0, bytes.length === 4 ? AF_INET : AF_INET6, true);
  view.setUint16(2, endpoint.port, false);
  out.set(bytes, bytes.length === 4 ? 4 : 8);
  return out;
}

/** The endpoint in a sockaddr at `bytes[offset…]`, or null for another family. */
export function decodeSockaddr(bytes: Uint8Array, offset = 0): UdpEndpoint | null {
  const family = bytes[offset] | (bytes[offset + 1] << 8);
  const port = (bytes[offset + 2] << 8) | bytes[offset + 3];
  if (family === AF_INET) {
    return { address: formatIp(bytes.slice(offset + 4, offset + 8)), port };
  }
  if (family === AF_INET6) {
    const address = bytes.slice(offset + 8, offset + 24);
    // An IPv4-mapped source is reported as plain IPv4, as wireguard-go does.
    const mapped = address.subarray(0, 12).every((b, i) => b === (i < 10 ? 0 : 0xff));
    return { address: formatIp(mapped ? address.slice(12) : address), port };
  }
  return null;
}

/** Whether an endpoint goes out through the IPv6 socket. */
export function isIpv6Endpoint(endpoint: UdpEndpoint): boolean {
  return endpoint.address.includes(":");
}
