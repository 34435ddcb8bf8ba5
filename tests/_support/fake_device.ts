// An in-memory WireGuard device for tests without root: records what the hub or the agent's
// session asks of it (peers, addresses, routes, close). As a TunnelFactory for the session.

import type { TunnelFactory, TunnelOptions } from "../../src/session/tunnel.ts";
import { generatePrivateKey, keyToBase64, publicKeyOf } from "../../src/curve25519/mod.ts";
import type { Device, DeviceOptions, PeerSettings, PeerStatus } from "../../src/tun/mod.ts";

export class FakeDevice implements Device {
  readonly name: string;
  readonly publicKey: Uint8Array;
  readonly listenPort: number;
  /** Peers by base64 public key. */
  readonly peerMap = new Map<string, PeerSettings>();
  readonly addresses: string[] = [];
  readonly routes: string[] = [];
  isClosed = false;
  /** Every peer change in order: "set KEY" or "remove KEY" (base64 keys). */
  readonly peerLog: string[] = [];
  readonly #closed = Promise.withResolvers<void>();

  constructor(readonly options: DeviceOptions) {
    this.name = options.name;
    this.publicKey = publicKeyOf(options.privateKey ?? generatePrivateKey());
    this.listenPort = options.listenPort || 51820;
  }

  get closed(): Promise<void> {
    return this.#closed.promise;
  }
  setPeer(peer: PeerSettings): Promise<void> {
    this.peerMap.set(keyToBase64(peer.publicKey), peer);
    this.peerLog.push(`set ${keyToBase64(peer.publicKey)}`);
    return Promise.resolve();
  }
  removePeer(publicKey: Uint8Array): Promise<void> {
    this.peerMap.delete(keyToBase64(publicKey));
    this.peerLog.push(`remove ${keyToBase64(publicKey)}`);
    return Promise.resolve();
  }
  peers(): Promise<PeerStatus[]> {
    return Promise.resolve([...this.peerMap.values()].map((p) => ({
      publicKey: p.publicKey,
      endpoint: p.endpoint ?? null,
      rxBytes: 0,
      txBytes: 0,
      lastHandshakeMs: 0,
      allowedIps: p.allowedIps,
    })));
  }
  addAddress(cidr: string): Promise<void> {
    this.addresses.push(cidr);
    return Promise.resolve();
  }
  addRoute(cidr: string): Promise<void> {
    this.routes.push(cidr);
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.isClosed = true;
    this.#closed.resolve();
    return Promise.resolve();
  }
}

/** A factory that keeps every device it made; `fail` makes the next creation throw. */
export function fakeTunnels(): TunnelFactory & { made: FakeDevice[]; fail?: string } {
  const factory = Object.assign(
    (options: TunnelOptions) => {
      if (factory.fail) return Promise.reject(new Error(factory.fail));
      const device = new FakeDevice(options);
      factory.made.push(device);
      return Promise.resolve(device);
    },
    { made: [] as FakeDevice[], fail: undefined as string | undefined },
  );
  return factory;
}
