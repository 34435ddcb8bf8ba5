// The hub's two probe answers. The in-tunnel RTT probe responder (PROTOCOL.md section 2, "Peer
// health"): a UDP socket on the hub's tunnel address at serverPort+1 answering 13-byte 0xDEADBEEF
// requests with a reply that echoes the timestamp. And the outside-tunnel reachability test on the
// WireGuard socket, answered through the device's foreign-datagram hook.

import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import {
  PROBE_LENGTH,
  PROBE_MAGIC,
  PROBE_REPLY,
  PROBE_REQUEST,
  TEST_REQUEST_PREFIX,
  TEST_RESPONSE_PREFIX,
} from "../protocol/mod.ts";
import type { Device } from "../tun/mod.ts";

const TEST_REQUEST = new TextEncoder().encode(TEST_REQUEST_PREFIX);
const TEST_RESPONSE = new TextEncoder().encode(TEST_RESPONSE_PREFIX);
/** The random bytes after the prefix, echoed in the response. */
const TEST_NONCE_BYTES = 8;

/**
 * The reply to a probe, or null when `datagram` is not a probe request. Pure.
 */
export function answerProbe(datagram: Uint8Array): Uint8Array | null {
  if (datagram.length !== PROBE_LENGTH) return null;
  const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  if (view.getUint32(0) !== PROBE_MAGIC || datagram[4] !== PROBE_REQUEST) return null;
  const reply = datagram.slice();
  reply[4] = PROBE_REPLY;
  return reply;
}

/**
 * The response to a reachability test ("PANGOLIN_TEST_REQ" + 8 bytes -> "PANGOLIN_TEST_RSP" + the
 * same 8 bytes), or null when `datagram` is not one. Pure.
 */
export function answerTestRequest(datagram: Uint8Array): Uint8Array | null {
  if (datagram.length !== TEST_REQUEST.length + TEST_NONCE_BYTES) return null;
  for (let i = 0; i < TEST_REQUEST.length; i++) if (datagram[i] !== TEST_REQUEST[i]) return null;
  const reply = new Uint8Array(datagram.length);
  reply.set(TEST_RESPONSE, 0);
  reply.set(datagram.subarray(TEST_REQUEST.length), TEST_RESPONSE.length);
  return reply;
}

/**
 * A foreign-datagram hook that answers reachability tests from the device `device()` returns
 * (a getter: the hook exists before the device does). Other datagrams are ignored.
 */
export function testRequestResponder(
  device: () => Device | null,
): (data: Uint8Array, from: string) => void {
  return (data, from) => {
    const reply = answerTestRequest(data);
    if (reply) device()?.sendDatagram?.(from, reply).catch(() => {/* UDP: best effort */});
  };
}

/** A bound responder; `close()` releases the socket. */
export interface ProbeResponder {
  port: number;
  close(): Promise<void>;
}

/** Binds `hostname:port` and answers probes until closed. */
export function startProbeResponder(hostname: string, port: number): Promise<ProbeResponder> {
  const socket = dgram.createSocket(hostname.includes(":") ? "udp6" : "udp4");
  socket.on("message", (message: Uint8Array, remote: { address: string; port: number }) => {
    const reply = answerProbe(new Uint8Array(message));
    if (reply) socket.send(Buffer.from(reply), remote.port, remote.address);
  });
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(port, hostname, () => {
      socket.off("error", reject);
      socket.on("error", () => {/* a failed send to a vanished peer is not fatal */});
      resolve({
        port: socket.address().port,
        close: () => new Promise<void>((done) => socket.close(() => done())),
      });
    });
  });
}
