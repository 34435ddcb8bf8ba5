// UAPI on the engine's side: applies a validated change set (uapi.ts parsed it on the main thread)
// to the engine's core and reads the snapshot a `get=1` answer is made of. It keeps what the core
// does not: which CIDRs each peer was given (the core's table routes but does not list) and the
// private key as it was set.

import type { Peer } from "../crypto/mod.ts";
import type { PacketEngine } from "./packet_engine.ts";
import { UAPI_ERRNO, type UapiSet, type UapiSnapshot } from "./uapi.ts";

function isZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

function sameKey(a: Uint8Array | null, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The configuration side of one engine. */
export class UapiApplier {
  readonly #engine: PacketEngine;
  /** Who owns each allowed IP (the core's table routes; this one lists them for UAPI). */
  readonly #cidrOwners = new Map<string, Peer>();
  #privateKey: Uint8Array | null = null;

  constructor(engine: PacketEngine, privateKey: Uint8Array | null) {
    this.#engine = engine;
    this.#rememberPrivateKey(privateKey);
  }

  /**
   * Applies a change set; only the core's own refusals could fail it.
   *
   * @param listenPort the port the sockets are bound to now
   * @param rebound whether the sockets were just replaced
   * @returns a UAPI errno (0 on success)
   */
  apply(change: UapiSet, listenPort: number, rebound: boolean, now: number): number {
    const wg = this.#engine.wg;
    if (change.privateKey) {
      wg.setPrivateKey(isZero(change.privateKey) ? null : change.privateKey, now);
      this.#rememberPrivateKey(change.privateKey);
    }
    if (change.listenPort !== undefined || rebound) wg.listenPort = listenPort;
    if (change.fwmark !== undefined) wg.fwmark = change.fwmark;
    if (change.replacePeers) {
      wg.removeAllPeers();
      this.#cidrOwners.clear();
      this.#engine.forgetAllPeers();
    }
    for (const item of change.peers) {
      // A section naming this device's own key is ignored, as wireguard-go does.
      if (sameKey(wg.publicKey, item.publicKey)) continue;
      let peer = wg.peer(item.publicKey);
      if (item.remove) {
        if (peer) this.#removePeer(peer);
        continue;
      }
      if (!peer && item.updateOnly) continue;
      peer ??= wg.upsertPeer(item.publicKey, now);
      if (item.presharedKey) peer.presharedKey = item.presharedKey;
      if (item.endpoint) peer.endpoint = item.endpoint;
      if (item.persistentKeepaliveS !== undefined) {
        peer.persistentKeepaliveIntervalS = item.persistentKeepaliveS;
      }
      if (item.replaceAllowedIps) {
        wg.allowedIps.removeByPeer(peer);
        for (const [cidr, owner] of this.#cidrOwners) {
          if (owner === peer) this.#cidrOwners.delete(cidr);
        }
      }
      for (const cidr of item.allowedIps) {
        wg.allowedIps.insert(cidr, peer);
        this.#cidrOwners.set(cidr, peer);
      }
    }
    return UAPI_ERRNO.ok;
  }

  /**
   * What `get=1` reports.
   *
   * @param wallOffset added to monotonic times to make them Unix ms (performance.timeOrigin)
   */
  snapshot(listenPort: number, wallOffset: number): UapiSnapshot {
    const wg = this.#engine.wg;
    const peers = [];
    for (const peer of wg.peers()) {
      const allowedIps: string[] = [];
      for (const [cidr, owner] of this.#cidrOwners) if (owner === peer) allowedIps.push(cidr);
      peers.push({
        publicKey: peer.publicKey,
        presharedKey: peer.presharedKey,
        endpoint: peer.endpoint
          ? { address: peer.endpoint.address, port: peer.endpoint.port }
          : null,
        lastHandshakeMs: peer.lastHandshakeMs > 0
          ? Math.floor(wallOffset + peer.lastHandshakeMs)
          : 0,
        txBytes: peer.txBytes,
        rxBytes: peer.rxBytes,
        persistentKeepaliveS: peer.persistentKeepaliveIntervalS,
        allowedIps,
      });
    }
    return { privateKey: this.#privateKey, listenPort, fwmark: wg.fwmark, peers };
  }

  #removePeer(peer: Peer): void {
    const wg = this.#engine.wg;
    wg.allowedIps.removeByPeer(peer);
    for (const [cidr, owner] of this.#cidrOwners) if (owner === peer) this.#cidrOwners.delete(cidr);
    this.#engine.forgetPeer(peer);
    wg.removePeer(peer.publicKey);
  }

  #rememberPrivateKey(key: Uint8Array | null): void {
    this.#privateKey = key && !isZero(key) ? key : null;
  }
}
