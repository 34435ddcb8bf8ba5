// One bound UDP socket with a datagram handler, on Deno's own datagram API. The DNS proxy, the
// site's probe responder and the agent's RTT probes use it; node:dgram would do the same but
// its import starts Deno's Node layer, about 1 MiB resident in every agent
// (tests/tun/idle_rss_bench.ts; docs/data-plane.md, "Memory").

/** Called with a copy of each datagram and its sender. */
export type DatagramHandler = (bytes: Uint8Array, address: string, port: number) => void;

export interface UdpSocket {
  /** The bound port (the one the kernel picked for port 0). */
  readonly port: number;
  /** Sends one datagram; a failed send (no route yet, a vanished peer) is dropped as lost. */
  send(bytes: Uint8Array, address: string, port: number): void;
  close(): void;
}

// A datagram is at most this large (an IPv6 jumbogram aside); one buffer serves every receive.
const MAX_DATAGRAM_BYTES = 65_535;
// After a receive error on an open socket (rare: Linux reports nothing for unconnected UDP),
// wait this long so an error that repeats cannot spin the loop.
const RECEIVE_RETRY_MS = 10;

/**
 * Binds `address:port` (`0.0.0.0`/`::` for any, port 0 for any free one) and hands every
 * datagram to `onDatagram` until closed.
 *
 * @throws {Deno.errors.AddrInUse} / {Deno.errors.AddrNotAvailable} when it cannot be bound
 */
export function bindUdp(address: string, port: number, onDatagram: DatagramHandler): UdpSocket {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: address, port });
  const buffer = new Uint8Array(MAX_DATAGRAM_BYTES);
  let closed = false;
  (async () => {
    while (!closed) {
      let received: [Uint8Array, Deno.Addr];
      try {
        received = await conn.receive(buffer);
      } catch {
        if (closed) return;
        await new Promise((resolve) => setTimeout(resolve, RECEIVE_RETRY_MS));
        continue;
      }
      const [bytes, from] = received;
      if (from.transport !== "udp") continue;
      try {
        onDatagram(bytes.slice(), from.hostname, from.port);
      } catch { /* one bad datagram does not end the socket */ }
    }
  })();
  return {
    port: (conn.addr as Deno.NetAddr).port,
    send(bytes, to, toPort) {
      if (closed) return;
      conn.send(bytes, { transport: "udp", hostname: to, port: toPort }).catch(() => {});
    },
    close() {
      if (closed) return;
      closed = true;
      try {
        conn.close();
      } catch { /* closed */ }
    },
  };
}
