// The hub's two probe answers. The in-tunnel RTT probe responder (PROTOCOL.md section 2, "Peer
// health"): a UDP socket on the hub's tunnel address at serverPort+1 answering 13-byte 0xDEADBEEF
// requests with a reply that echoes the timestamp. And the outside-tunnel reachability test on the
// WireGuard socket, answered through the device's foreign-datagram hook.

import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import { answerProbe, answerTestRequest } from "../protocol/mod.ts";
import type { Device } from "../tun/mod.ts";

// The pure answers live in protocol/ (agents answer the same probes).
export { answerProbe, answerTestRequest };

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
