// An in-memory TunnelFactory for session tests: records what the session asks of the device.

import type { Tunnel, TunnelFactory, TunnelOptions } from "../../src/session/tunnel.ts";
import type { PeerSettings } from "../../src/tun/types.ts";
import { keyToBase64, publicKeyOf } from "../../src/tun/keys.ts";

export class FakeTunnel implements Tunnel {
  readonly name: string;
  readonly publicKey: Uint8Array;
  readonly addresses: string[] = [];
  readonly routes: string[] = [];
  /** Peers by base64 public key. */
  readonly peers = new Map<string, PeerSettings>();
  isClosed = false;
  readonly #closed = Promise.withResolvers<void>();

  constructor(readonly options: TunnelOptions) {
    this.name = options.name;
    this.publicKey = publicKeyOf(options.privateKey);
  }

  get closed(): Promise<void> {
    return this.#closed.promise;
  }
  setPeer(peer: PeerSettings): Promise<void> {
    this.peers.set(keyToBase64(peer.publicKey), peer);
    return Promise.resolve();
  }
  removePeer(publicKey: Uint8Array): Promise<void> {
    this.peers.delete(keyToBase64(publicKey));
    return Promise.resolve();
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

/** A factory that keeps every tunnel it made; `fail` makes the next creation throw. */
export function fakeTunnels(): TunnelFactory & { made: FakeTunnel[]; fail?: string } {
  const factory = Object.assign(
    (options: TunnelOptions) => {
      if (factory.fail) return Promise.reject(new Error(factory.fail));
      const tunnel = new FakeTunnel(options);
      factory.made.push(tunnel);
      return Promise.resolve(tunnel);
    },
    { made: [] as FakeTunnel[], fail: undefined as string | undefined },
  );
  return factory;
}
