// The device's public contract: what the agent, the hub and `burrow wg` see of a WireGuard device.

export interface DeviceOptions {
  /** Interface name (at most 15 bytes). */
  name: string;
  /** @default 1420 */
  mtu?: number;
  /** UDP port for IPv4 and IPv6; 0 picks a random free port. @default 0 */
  listenPort?: number;
  privateKey?: Uint8Array;
  /** Serve the UAPI socket /var/run/wireguard/NAME.sock. @default true */
  uapi?: boolean;
  /**
   * Called with every foreign datagram on the WireGuard socket: one that is no WireGuard message
   * (its first four bytes are not a WireGuard type word), e.g. the hub's reachability test or an
   * endpoint-discovery ping. `from` is "host:port" ("[v6]:port"), ready for {@linkcode
   * Device.sendDatagram}. Bounded: datagrams longer than 1280 bytes, and beyond a burst of 64 and
   * 128 a second, are dropped before they reach the main thread. `data` is the handler's own copy.
   * A device that does not own its UDP socket (wireguard-go) never calls it.
   */
  onForeignDatagram?: ForeignDatagramHandler;
}

/** See {@linkcode DeviceOptions.onForeignDatagram}. */
export type ForeignDatagramHandler = (data: Uint8Array, from: string) => void;

export interface PeerSettings {
  publicKey: Uint8Array;
  /** host:port or [v6]:port */
  endpoint?: string;
  /** CIDRs; replaces the peer's current list. */
  allowedIps: string[];
  persistentKeepaliveS?: number;
  presharedKey?: Uint8Array;
}

export interface PeerStatus {
  publicKey: Uint8Array;
  endpoint: string | null;
  rxBytes: number;
  txBytes: number;
  /** Wall-clock epoch milliseconds of the last handshake, 0 when never. */
  lastHandshakeMs: number;
  allowedIps: string[];
}

export interface Device {
  readonly name: string;
  readonly publicKey: Uint8Array;
  readonly listenPort: number;
  setPeer(p: PeerSettings): Promise<void>;
  removePeer(publicKey: Uint8Array): Promise<void>;
  peers(): Promise<PeerStatus[]>;
  /** Adds an address to the interface, e.g. "100.89.128.2/20". */
  addAddress(cidr: string): Promise<void>;
  /** Routes a network through the interface. */
  addRoute(cidr: string): Promise<void>;
  /**
   * Sends `data` as it is (no WireGuard framing) from the WireGuard socket to `to` ("host:port" or
   * "[v6]:port", an IP literal): answers to foreign datagrams, endpoint-discovery pings. Best effort
   * like any UDP send: resolves once handed to the packet loop. Absent on a device that does not
   * own its UDP socket (wireguard-go).
   *
   * @throws {TypeError} when `to` is not an IP literal with a port
   * @throws {RangeError} when `data` is longer than 1280 bytes
   */
  sendDatagram?(to: string, data: Uint8Array): Promise<void>;
  close(): Promise<void>;
  /** Resolves once the device is closed, by close() or because its interface disappeared. */
  readonly closed: Promise<void>;
}
