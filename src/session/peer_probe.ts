// The in-tunnel RTT probe (PROTOCOL.md section 2, "Peer health"): 13 bytes to
// serverIP:serverPort+1 through WireGuard, magic 0xDEADBEEF, a type byte and an 8-byte
// big-endian nanosecond timestamp that the hub echoes back. Codec pure, socket thin.

import { bindUdp, type UdpSocket } from "../net/mod.ts";
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
  readonly #socket: UdpSocket;

  private constructor(socket: UdpSocket) {
    this.#socket = socket;
  }

  /** @param onReply called with the replying address, port and measured RTT in ns */
  static open(
    onReply: (address: string, port: number, rttNs: number) => void,
  ): Promise<ProbeSocket> {
    try {
      const socket = bindUdp("0.0.0.0", 0, (message, address, port) => {
        const probe = decodeProbe(message);
        if (!probe || probe.type !== PROBE_REPLY) return;
        const rtt = nowNs() - probe.timestampNs;
        if (rtt < 0n) return;
        onReply(address, port, Number(rtt));
      });
      return Promise.resolve(new ProbeSocket(socket));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Sends one probe request stamped now; a send with no route yet is dropped. */
  send(address: string, port: number): void {
    this.#socket.send(encodeProbe(PROBE_REQUEST, nowNs()), address, port);
  }

  close(): Promise<void> {
    this.#socket.close();
    return Promise.resolve();
  }
}
