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
  /** Answer "PANGOLIN_TEST_REQ"+8 bytes on the WireGuard socket with "PANGOLIN_TEST_RSP"+the same 8 bytes (hub). */
  answerTestRequests?: boolean;
}

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
  close(): Promise<void>;
  /** Resolves once the device is closed, by close() or because its interface disappeared. */
  readonly closed: Promise<void>;
}
