// The WireGuard device as the session sees it: an injectable factory, so the session is
// tested with a fake and runs with the real device from src/tun in production.

import { createDevice, type Device } from "../tun/mod.ts";

export interface TunnelPeer {
  publicKey: Uint8Array;
  /** `host:port`, already resolved to an address. */
  endpoint?: string;
  allowedIps: string[];
  persistentKeepaliveS?: number;
}

/** The subset of src/tun's `Device` the session uses. */
export interface Tunnel {
  readonly name: string;
  readonly publicKey: Uint8Array;
  setPeer(peer: TunnelPeer): Promise<void>;
  removePeer(publicKey: Uint8Array): Promise<void>;
  addAddress(cidr: string): Promise<void>;
  addRoute(cidr: string): Promise<void>;
  close(): Promise<void>;
  /** Resolves when the device is gone, by close() or because its interface disappeared. */
  readonly closed: Promise<void>;
}

export interface TunnelOptions {
  name: string;
  mtu: number;
  privateKey: Uint8Array;
}

export type TunnelFactory = (options: TunnelOptions) => Promise<Tunnel>;

/** The real device: a TUN interface with a userspace WireGuard behind it (src/tun). */
export const wireguardTunnels: TunnelFactory = async (options) => {
  const device: Device = await createDevice({
    name: options.name,
    mtu: options.mtu,
    privateKey: options.privateKey,
    listenPort: 0,
  });
  return device;
};
