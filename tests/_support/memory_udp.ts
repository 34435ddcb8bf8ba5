// Cross-wired in-memory UDP for device tests without sockets (as wireguard-go's conn/bindtest): a
// MemoryNetwork routes datagrams between the MemoryUdpSockets bound on it by exact "address:port".
// A socket can move to another address (roaming, a NAT rebinding); datagrams to an address nobody
// holds are lost, as on a real network. Every datagram is copied, so senders may reuse buffers.

/** An address and port (the core's Endpoint shape). */
export interface MemoryEndpoint {
  address: string;
  port: number;
}

/** One received datagram. */
export interface MemoryDatagram {
  data: Uint8Array;
  from: MemoryEndpoint;
}

function key(endpoint: MemoryEndpoint): string {
  return `${endpoint.address}|${endpoint.port}`;
}

/** The wire: which socket holds which address, and every datagram that crossed it. */
export class MemoryNetwork {
  readonly #sockets = new Map<string, MemoryUdpSocket>();
  /** Every datagram sent, delivered or not, in order (for assertions on the wire). */
  readonly log: Array<{ from: MemoryEndpoint; to: MemoryEndpoint; data: Uint8Array }> = [];

  /**
   * A socket bound to `endpoint`.
   *
   * @throws {Error} when the address is taken
   */
  bind(endpoint: MemoryEndpoint): MemoryUdpSocket {
    const socket = new MemoryUdpSocket(this, { ...endpoint });
    this.attach(socket, endpoint);
    return socket;
  }

  /** @internal moves `socket` to `endpoint` (MemoryUdpSocket.rebind). */
  attach(socket: MemoryUdpSocket, endpoint: MemoryEndpoint): void {
    if (this.#sockets.has(key(endpoint))) {
      throw new Error(`Cannot bind ${endpoint.address}:${endpoint.port}: address in use`);
    }
    this.#sockets.delete(key(socket.endpoint));
    socket.endpoint = { ...endpoint };
    this.#sockets.set(key(endpoint), socket);
  }

  /** @internal carries one datagram. */
  carry(from: MemoryEndpoint, to: MemoryEndpoint, data: Uint8Array): void {
    this.log.push({ from: { ...from }, to: { ...to }, data });
    this.#sockets.get(key(to))?.inbox.push({ data, from: { ...from } });
  }
}

/** One bound socket: send copies onto the network, received datagrams wait in `inbox`. */
export class MemoryUdpSocket {
  readonly inbox: MemoryDatagram[] = [];

  constructor(readonly network: MemoryNetwork, public endpoint: MemoryEndpoint) {}

  /** Sends a copy of `buffer[0…length)` to `to`. */
  send(to: MemoryEndpoint, buffer: Uint8Array, length = buffer.length): void {
    this.network.carry(this.endpoint, to, buffer.slice(0, length));
  }

  /** Moves this socket to another address: later datagrams come from there. */
  rebind(endpoint: MemoryEndpoint): void {
    this.network.attach(this, endpoint);
  }
}

/** Two sockets on one network, cross-wired: what one sends to the other's address, it gets. */
export function memoryUdpPair(
  a: MemoryEndpoint,
  b: MemoryEndpoint,
): { network: MemoryNetwork; a: MemoryUdpSocket; b: MemoryUdpSocket } {
  const network = new MemoryNetwork();
  return { network, a: network.bind(a), b: network.bind(b) };
}
