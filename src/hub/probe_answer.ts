// The in-tunnel RTT probe responder (PROTOCOL.md section 2, "Peer health"): a UDP socket on
// the hub's tunnel address at serverPort+1 answering 13-byte 0xDEADBEEF requests with a reply
// that echoes the timestamp.

import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import { PROBE_LENGTH, PROBE_MAGIC, PROBE_REPLY, PROBE_REQUEST } from "../protocol/control.ts";

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
