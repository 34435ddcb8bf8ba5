// The in-tunnel RTT probe (PROTOCOL.md section 2, "Peer health"): 13 bytes to
// serverIP:serverPort+1 through WireGuard, magic 0xDEADBEEF, a type byte and an 8-byte
// big-endian nanosecond timestamp that the hub echoes back. Codec pure, socket thin.

import { createSocket, type Socket } from "node:dgram";
import { PROBE_LENGTH, PROBE_MAGIC, PROBE_REPLY, PROBE_REQUEST } from "../protocol/mod.ts";

export interface Probe {
  type: number;
  timestampNs: bigint;
}

/** Encodes a probe datagram. */
export function encodeProbe(type: number, timestampNs: bigint): Uint8Array {
  const out = new Uint8Array(PROBE_LENGTH);
  const view = new DataView(out.buffer);
  view.setUint32(0, PROBE_MAGIC);
  view.setUint8(4, type);
  view.setBigUint64(5, timestampNs);
  return out;
}

/** Decodes a probe datagram; null for anything that is not exactly one. */
export function decodeProbe(bytes: Uint8Array): Probe | null {
  if (bytes.length !== PROBE_LENGTH) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0) !== PROBE_MAGIC) return null;
  const type = view.getUint8(4);
  if (type !== PROBE_REQUEST && type !== PROBE_REPLY) return null;
  return { type, timestampNs: view.getBigUint64(5) };
}

/** Wall-clock nanoseconds with sub-millisecond resolution; only this agent reads it back. */
export function nowNs(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
}

/**
 * One UDP socket that sends probe requests and reports the round trip of every reply.
 * Unbound: the kernel routes each probe into the tunnel by its destination.
 */
export class ProbeSocket {
  readonly #socket: Socket;
  #closed = false;

  /** @param onReply called with the replying address, port and measured RTT in ns */
  private constructor(
    socket: Socket,
    onReply: (address: string, port: number, rttNs: number) => void,
  ) {
    this.#socket = socket;
    socket.on("message", (message: Uint8Array, remote: { address: string; port: number }) => {
      const probe = decodeProbe(new Uint8Array(message));
      if (!probe || probe.type !== PROBE_REPLY) return;
      const rtt = nowNs() - probe.timestampNs;
      if (rtt < 0n) return;
      onReply(remote.address, remote.port, Number(rtt));
    });
    // A send into a tunnel whose peer is gone is not worth more than a dropped probe.
    socket.on("error", () => {});
  }

  static open(
    onReply: (address: string, port: number, rttNs: number) => void,
  ): Promise<ProbeSocket> {
    const socket = createSocket("udp4");
    return new Promise((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(0, () => {
        socket.off("error", reject);
        resolve(new ProbeSocket(socket, onReply));
      });
    });
  }

  /** Sends one probe request stamped now; errors (no route yet) are ignored. */
  send(address: string, port: number): void {
    if (this.#closed) return;
    try {
      this.#socket.send(encodeProbe(PROBE_REQUEST, nowNs()), port, address);
    } catch { /* no route yet: the next round tries again */ }
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }
}
