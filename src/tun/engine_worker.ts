// Engine Worker: the peer loop. Takes packets from the reader rings, runs them through the
// sans-I/O core (encapsulate: TUN -> UDP, decapsulate: UDP -> TUN), fires timers, writes to the
// TUN and the UDP sockets with libc, and applies configuration sent by the main thread.
// One engine serves every peer, so the packets of one peer stay in order.

/// <reference lib="deno.worker" />

import { type Endpoint, type Peer, type Step, WgInterface } from "../crypto/mod.ts";
import { closeLibc, EAGAIN, errno, libc, POLLOUT } from "./libc.ts";
import { Doorbell, PACKET_BYTES_MAX, PacketRing, SLOT_SOCKADDR_OFFSET } from "./pool.ts";
import type { EngineConfig, EngineReport, EngineRequest, EngineSockets } from "./protocol.ts";
import { UAPI_ERRNO, type UapiSet, type UapiSnapshot } from "./uapi.ts";
import { decodeSockaddr, encodeSockaddr, SOCKADDR_IN6_SIZE } from "./udp.ts";
import { transportAead } from "./aead.ts";
import {
  SLOT_CONTROL_LENGTH_OFFSET,
  SLOT_CONTROL_OFFSET,
  StickySender,
  StickySources,
} from "./udp_sticky.ts";

/** Packets taken from one ring before looking at the others (fairness between directions). */
const BATCH = 32;
/** Longest run of work before yielding to the event loop (configuration messages). */
const YIELD_AFTER_MS = 4;
/** Longest sleep without a timer due, so a lost wake-up costs at most this. */
const MAX_SLEEP_MS = 1000;
/** This many handshake messages in one receive batch means they arrive faster than answered. */
const UNDER_LOAD_HANDSHAKES = 8;
/** How long the device stays under load after the backlog was last seen (as wireguard-go). */
const UNDER_LOAD_HOLD_MS = 1000;
/** A runaway step loop is a core bug; stop it rather than hang the device. */
const MAX_STEPS = 4096;

const TEST_REQUEST = new TextEncoder().encode("PANGOLIN_TEST_REQ");
const TEST_RESPONSE = new TextEncoder().encode("PANGOLIN_TEST_RSP");
const TEST_NONCE_BYTES = 8;

function report(message: EngineReport): void {
  self.postMessage(message);
}

function isZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

function sameKey(a: Uint8Array | null, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Remembers the Endpoint object of recent senders, so a datagram costs no string formatting. */
class SenderCache {
  readonly #keys: Uint8Array[] = [];
  readonly #endpoints: Endpoint[] = [];
  #next = 0;

  constructor(readonly size = 8) {
    for (let i = 0; i < size; i++) this.#keys.push(new Uint8Array(SOCKADDR_IN6_SIZE));
  }

  lookup(bytes: Uint8Array, offset: number): Endpoint | null {
    const length = bytes[offset] === 2 ? 8 : 24; // AF_INET: family, port, address
    for (let i = 0; i < this.#endpoints.length; i++) {
      const key = this.#keys[i];
      let same = true;
      for (let j = 0; j < length; j++) {
        if (key[j] !== bytes[offset + j]) {
          same = false;
          break;
        }
      }
      if (same) return this.#endpoints[i];
    }
    const endpoint = decodeSockaddr(bytes, offset);
    if (!endpoint) return null;
    const slot = this.#next;
    this.#next = (this.#next + 1) % this.size;
    this.#keys[slot].set(bytes.subarray(offset, offset + SOCKADDR_IN6_SIZE));
    this.#endpoints[slot] = endpoint;
    return endpoint;
  }
}

class Engine {
  readonly wg: WgInterface;
  readonly out: Uint8Array;
  readonly tunRing: PacketRing;
  readonly bell: Doorbell;
  readonly tunFd: number;
  readonly answerTestRequests: boolean;
  sockets: EngineSockets;
  udpRings: PacketRing[] = [];
  running = true;
  readonly #c = libc();
  readonly #sockaddrs = new WeakMap<Endpoint, Uint8Array>();
  readonly #senders = new SenderCache();
  readonly #sticky = new StickySources();
  readonly #stickySender = new StickySender();
  /** Who owns each allowed IP (the core's table routes; this one lists them for UAPI). */
  readonly #cidrOwners = new Map<string, Peer>();
  /** Peers with packets possibly queued until a handshake completes. */
  readonly #waiting = new Set<Peer>();
  readonly #pollOut = new Uint8Array(8);
  readonly #yieldChannel = new MessageChannel();
  #yieldResolve: (() => void) | null = null;

  constructor(config: EngineConfig) {
    this.wg = new WgInterface({
      random: (dst) => crypto.getRandomValues(dst),
      aead: transportAead(),
      mtu: config.mtu,
    });
    const now = performance.now();
    if (config.privateKey) this.wg.setPrivateKey(config.privateKey, now);
    this.wg.listenPort = config.sockets.port;
    // Room for the largest sealed packet, whatever MTU the interface is given later.
    this.out = new Uint8Array(PACKET_BYTES_MAX + 128);
    this.tunRing = PacketRing.attach(config.tunRing);
    this.bell = new Doorbell(config.bell);
    this.tunFd = config.tunFd;
    this.answerTestRequests = config.answerTestRequests;
    this.sockets = config.sockets;
    this.#attachRings(config.sockets);
    this.#yieldChannel.port1.onmessage = () => this.#yieldResolve?.();
  }

  #attachRings(sockets: EngineSockets): void {
    this.udpRings = [sockets.ring4, sockets.ring6]
      .filter((ring): ring is SharedArrayBuffer => ring !== null)
      .map((ring) => PacketRing.attach(ring));
  }

  /** Lets queued messages run without the 4 ms clamp of nested timers. */
  #yield(): Promise<void> {
    return new Promise((resolve) => {
      this.#yieldResolve = resolve;
      this.#yieldChannel.port2.postMessage(null);
    });
  }

  async loop(): Promise<void> {
    let lastYield = performance.now();
    while (this.running) {
      const now = performance.now();
      let work = 0;
      for (let i = 0; i < this.udpRings.length; i++) work += this.#drainUdp(this.udpRings[i], now);
      work += this.#drainTun(now);
      if (now >= this.wg.nextDeadline()) this.#runTimers(now);
      if (work > 0) {
        if (now - lastYield > YIELD_AFTER_MS) {
          await this.#yield();
          lastYield = performance.now();
        }
        continue;
      }
      const seen = this.bell.arm();
      if (this.#anyAvailable()) {
        this.bell.disarm();
        continue;
      }
      const untilTimer = this.wg.nextDeadline() - performance.now();
      await this.bell.sleep(seen, Math.max(0, Math.min(MAX_SLEEP_MS, untilTimer)));
      lastYield = performance.now();
    }
    this.#yieldChannel.port1.close();
    this.#yieldChannel.port2.close();
  }

  stop(): void {
    this.running = false;
    this.bell.ring();
  }

  #anyAvailable(): boolean {
    if (this.tunRing.available() > 0) return true;
    for (const ring of this.udpRings) if (ring.available() > 0) return true;
    return false;
  }

  // TUN -> network.
  #drainTun(now: number): number {
    const ring = this.tunRing;
    const count = Math.min(ring.available(), BATCH);
    let sequence = ring.tail();
    for (let i = 0; i < count; i++, sequence++) {
      const index = ring.index(sequence);
      const offset = ring.dataOffset(index);
      const packet = ring.bytes.subarray(offset, offset + ring.length(index));
      const step = this.wg.encapsulate(packet, this.out, now);
      const peer = step.peer;
      if (step.action === "toNetwork") {
        // A handshake initiation instead of a transport packet: the packet was queued.
        if (this.out[0] !== 4 && peer) this.#waiting.add(peer);
        this.#send(step);
      } else if (step.action === "done" && peer) {
        this.#waiting.add(peer);
      }
    }
    if (count > 0) ring.release(count);
    return count;
  }

  // Network -> TUN (or network: handshake answers, cookie replies).
  #drainUdp(ring: PacketRing, now: number): number {
    const count = Math.min(ring.available(), BATCH);
    let handshakes = 0;
    let sequence = ring.tail();
    for (let i = 0; i < count; i++, sequence++) {
      const index = ring.index(sequence);
      const length = ring.length(index);
      if (length <= 0) continue; // truncated (oversized) or empty
      const offset = ring.dataOffset(index);
      const datagram = ring.bytes.subarray(offset, offset + length);
      const from = this.#senders.lookup(
        ring.bytes,
        ring.headerOffset(index) + SLOT_SOCKADDR_OFFSET,
      );
      if (!from) continue;
      const header = ring.headerOffset(index);
      const control = ring.view.getInt32(header + SLOT_CONTROL_LENGTH_OFFSET, true);
      if (control > 0) {
        this.#sticky.remember(from, ring.bytes, header + SLOT_CONTROL_OFFSET, control);
      }
      if (datagram[0] === 0x50 && this.answerTestRequests && this.#answerTest(datagram, from)) {
        continue;
      }
      const type = datagram[0];
      if (type === 1 || type === 2) handshakes++;
      const step = this.wg.decapsulate(datagram, from, this.out, now);
      const peer = step.peer;
      if (step.action === "toTunnel") {
        this.#c.write(this.tunFd, this.out, step.length);
      } else if (step.action === "toNetwork") {
        this.#send(step);
      }
      if (peer && step.action !== "error" && (type !== 4 || this.#waiting.has(peer))) {
        this.#flush(peer, now);
      }
    }
    if (count > 0) ring.release(count);
    this.#updateLoad(handshakes, now);
    return count;
  }

  #underLoad = false;
  #underLoadUntil = 0;

  /** Under load, initiations need a cookie (mac2) first: a flood costs no Diffie-Hellman. */
  #updateLoad(handshakes: number, now: number): void {
    if (handshakes >= UNDER_LOAD_HANDSHAKES) {
      this.#underLoadUntil = now + UNDER_LOAD_HOLD_MS;
      if (!this.#underLoad) {
        this.#underLoad = true;
        this.wg.setUnderLoad(true);
      }
    } else if (this.#underLoad && now > this.#underLoadUntil) {
      this.#underLoad = false;
      this.wg.setUnderLoad(false);
    }
  }

  #flush(peer: Peer, now: number): void {
    let sent = false;
    for (let n = 0; n < MAX_STEPS; n++) {
      const step = this.wg.flush(peer, this.out, now);
      if (step.action === "done") break;
      if (step.action === "toNetwork") {
        sent = true;
        this.#send(step);
      } else if (step.action === "toTunnel") {
        this.#c.write(this.tunFd, this.out, step.length);
      }
    }
    if (sent) this.#waiting.delete(peer);
  }

  #runTimers(now: number): void {
    for (let n = 0; n < MAX_STEPS; n++) {
      const step = this.wg.tick(this.out, now);
      if (step.action === "done") break;
      if (step.action === "toNetwork") this.#send(step);
    }
  }

  #answerTest(datagram: Uint8Array, from: Endpoint): boolean {
    if (datagram.length !== TEST_REQUEST.length + TEST_NONCE_BYTES) return false;
    for (let i = 0; i < TEST_REQUEST.length; i++) {
      if (datagram[i] !== TEST_REQUEST[i]) return false;
    }
    this.out.set(TEST_RESPONSE, 0);
    this.out.set(datagram.subarray(TEST_REQUEST.length), TEST_RESPONSE.length);
    this.#sendTo(from, datagram.length);
    return true;
  }

  #send(step: Step): void {
    if (step.endpoint) this.#sendTo(step.endpoint, step.length);
  }

  #sendTo(endpoint: Endpoint, length: number): void {
    let address = this.#sockaddrs.get(endpoint);
    if (!address) {
      try {
        address = encodeSockaddr(endpoint);
      } catch {
        return; // not an IP literal: nowhere to send
      }
      this.#sockaddrs.set(endpoint, address);
    }
    const fd = address.length === SOCKADDR_IN6_SIZE ? this.sockets.fd6 : this.sockets.fd4;
    if (fd < 0) return;
    const source = this.#sticky.sourceOf(endpoint);
    if (source) {
      let failed = this.#stickySender.send(fd, address, source, this.out, length);
      if (failed === EAGAIN) {
        this.#waitWritable(fd);
        failed = this.#stickySender.send(fd, address, source, this.out, length);
      }
      if (failed === 0 || failed === EAGAIN) return;
      // The address the peer contacted is gone: let the routing pick the source again.
      this.#sticky.forget(endpoint);
    }
    if (this.#c.sendto(fd, this.out, length, 0, address, address.length) >= 0) return;
    if (errno() !== EAGAIN) return; // unreachable and the like: the datagram is lost, as UDP may
    this.#waitWritable(fd);
    this.#c.sendto(fd, this.out, length, 0, address, address.length);
  }

  /** The socket buffer is full: wait briefly for room once rather than drop at once. */
  #waitWritable(fd: number): void {
    const view = new DataView(this.#pollOut.buffer);
    view.setInt32(0, fd, true);
    view.setInt16(4, POLLOUT, true);
    this.#c.poll(this.#pollOut, 1, 5);
  }

  /** Applies a validated UAPI change set; only the core's own refusals could fail it. */
  apply(change: UapiSet, sockets: EngineSockets | undefined): number {
    const now = performance.now();
    const wg = this.wg;
    if (sockets) {
      this.sockets = sockets;
      this.#attachRings(sockets);
    }
    if (change.privateKey) {
      wg.setPrivateKey(isZero(change.privateKey) ? null : change.privateKey, now);
    }
    if (change.listenPort !== undefined || sockets) wg.listenPort = this.sockets.port;
    if (change.fwmark !== undefined) wg.fwmark = change.fwmark;
    if (change.replacePeers) {
      wg.removeAllPeers();
      this.#cidrOwners.clear();
      this.#waiting.clear();
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
    this.bell.ring(); // timers may be due now (a keepalive when one was switched on)
    return UAPI_ERRNO.ok;
  }

  #removePeer(peer: Peer): void {
    this.wg.allowedIps.removeByPeer(peer);
    for (const [cidr, owner] of this.#cidrOwners) if (owner === peer) this.#cidrOwners.delete(cidr);
    this.#waiting.delete(peer);
    this.wg.removePeer(peer.publicKey);
  }

  snapshot(): UapiSnapshot {
    const wallOffset = performance.timeOrigin;
    const peers = [];
    for (const peer of this.wg.peers()) {
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
    return {
      privateKey: this.#privateKey,
      listenPort: this.sockets.port,
      fwmark: this.wg.fwmark,
      peers,
    };
  }

  #privateKey: Uint8Array | null = null;
  rememberPrivateKey(key: Uint8Array | null): void {
    this.#privateKey = key && !isZero(key) ? key : null;
  }
}

let engine: Engine | null = null;
let finished: Promise<void> | null = null;

function shutdown(): void {
  const exit = () => {
    report({ type: "stopped" });
    closeLibc();
    self.close();
  };
  if (!engine) return exit();
  engine.stop();
  (finished ?? Promise.resolve()).finally(exit);
}

self.onmessage = (event: MessageEvent<EngineRequest>) => {
  const message = event.data;
  try {
    switch (message.type) {
      case "start": {
        engine = new Engine(message.config);
        engine.rememberPrivateKey(message.config.privateKey);
        finished = engine.loop().catch((error) => {
          report({ type: "error", message: String(error?.stack ?? error) });
        });
        report({ type: "started", publicKey: engine.wg.publicKey });
        break;
      }
      case "apply": {
        if (!engine) throw new Error("apply before start");
        const errno = engine.apply(message.change, message.sockets);
        if (message.change.privateKey) engine.rememberPrivateKey(message.change.privateKey);
        report({ type: "applied", id: message.id, errno, publicKey: engine.wg.publicKey });
        break;
      }
      case "get": {
        if (!engine) throw new Error("get before start");
        report({ type: "snapshot", id: message.id, snapshot: engine.snapshot() });
        break;
      }
      case "mtu":
        if (engine) engine.wg.mtu = message.mtu;
        break;
      case "shutdown":
        shutdown();
        break;
    }
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    if (message.type === "apply") {
      report({ type: "applied", id: message.id, errno: UAPI_ERRNO.invalid, publicKey: null });
    }
    report({ type: "error", message: text });
  }
};
