// The WireGuard device as the session sees it: an injectable factory, so the session is
// tested with a fake and runs with the real device from src/tun in production.

import { createDevice, type Device, type DeviceOptions, type PeerStatus } from "../tun/mod.ts";

export type { PeerStatus as TunnelPeerStats };

/**
 * The subset of src/tun's `Device` the session uses. The session resolves each peer's endpoint
 * to an address before `setPeer` and never sets a preshared key.
 */
export type Tunnel =
  & Pick<
    Device,
    | "name"
    | "publicKey"
    | "setPeer"
    | "removePeer"
    | "addAddress"
    | "addRoute"
    | "close"
    | "closed"
    | "sendDatagram"
  >
  // Per-peer byte counts and handshakes, for the agent's metrics (a fake may leave it out).
  & Partial<Pick<Device, "peers">>
  & {
    /** The WireGuard UDP port (direct paths announce it with the agent's local addresses). */
    readonly listenPort?: number;
  };

/**
 * What the session chooses of a new device; the listen port is always a random free one.
 * Datagrams on the WireGuard socket that are no WireGuard message (reachability tests, the
 * other agent's probes) go to `onForeignDatagram`.
 */
export type TunnelOptions =
  & Required<Pick<DeviceOptions, "name" | "mtu" | "privateKey">>
  & Pick<DeviceOptions, "onForeignDatagram">;

export type TunnelFactory = (options: TunnelOptions) => Promise<Tunnel>;

/** The real device: a TUN interface with a userspace WireGuard behind it (src/tun). */
export const wireguardTunnels: TunnelFactory = async (options) => {
  const device: Device = await createDevice({
    name: options.name,
    mtu: options.mtu,
    privateKey: options.privateKey,
    listenPort: 0,
    onForeignDatagram: options.onForeignDatagram,
  });
  return device;
};
