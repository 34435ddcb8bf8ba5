// The device's packet loop without I/O: one PacketEngine runs every packet through the sans-I/O
// core and hands what comes out to an EngineOutput (the TUN and UDP writers). The Worker shell
// (engine_worker.ts) feeds it from its descriptor rings and writes with libc; tests feed it from
// in-memory fakes (tests/_support/memory_tun.ts, memory_udp.ts). Time comes in as `now`
// (monotonic ms) on every call. One engine serves every peer, so the packets of one peer stay in
// order. No allocation per packet: one reused output buffer, sealed in place by the core.
//
//   TUN -> network   packetFromTun:
//     1. encapsulate: route by destination, seal with the peer's current session;
//     2. no session: the packet is staged and a handshake initiation goes out instead, the peer
//        waits for its flush (network step 4);
//     3. the datagram goes to the peer's endpoint (EngineOutput.sendUdp).
//   network -> TUN   datagramFromNetwork:
//     1. type word: a datagram that is no WireGuard message is foreign: through the ForeignGate to
//        EngineOutput.foreignDatagram (the hub's reachability test, endpoint discovery);
//     2. a handshake message of its exact size is copied into the handshake queue
//        (handshake_queue.ts) for step 5; one of another size is dropped;
//     3. transport data is decapsulated at once: data to the TUN (EngineOutput.writeTun);
//     4. flush: packets staged during a handshake go out once it completed;
//   handshakes       processHandshakes, after each receive batch:
//     5. a few queued handshake messages run through the core (more when under load, since then
//        they cost no Diffie-Hellman); the queue's depth decides "under load": initiations then
//        need a cookie (mac2) first, and a sender with one is rate-limited by address.
//   timers -> network   runTimers: retransmits, rekeys, keepalives, key zeroing, until quiet.
//   raw -> network      sendDatagram: bytes as they are from the WireGuard socket.

import {
  COOKIE_REPLY_BYTES,
  type Endpoint,
  INITIATION_BYTES,
  MESSAGE_INITIATION,
  MESSAGE_TRANSPORT,
  messageType,
  type Peer,
  RESPONSE_BYTES,
  type Step,
  type TransportAead,
  WgInterface,
} from "../crypto/mod.ts";
import { ForeignGate } from "./foreign_gate.ts";
import { HandshakeQueue } from "./handshake_queue.ts";
import { PACKET_BYTES_MAX } from "./pool.ts";

/**
 * Queued handshake messages run per round when calm: each may cost a Diffie-Hellman, and the
 * round's data should not wait long behind them.
 */
export const HANDSHAKES_PER_ROUND = 2;
/** Per round under load, when most of them cost only a mac check and a cookie reply. */
export const HANDSHAKES_PER_ROUND_UNDER_LOAD = 64;
/** The exact size of each handshake message type (index: the type). */
const HANDSHAKE_BYTES = [0, INITIATION_BYTES, RESPONSE_BYTES, COOKIE_REPLY_BYTES];
/** A runaway step loop is a core bug; stop it rather than hang the device. */
const MAX_STEPS = 4096;

/** Where the engine's results go. Each call may only read `buffer[0…length)` while it runs. */
export interface EngineOutput {
  /**
   * Writes one IP packet to the TUN; `peer` (the sender) lets a writer that joins packets keep
   * those of different peers apart.
   */
  writeTun(buffer: Uint8Array, length: number, peer?: Peer | null): void;
  /** Sends one datagram from the WireGuard socket to `to`. */
  sendUdp(to: Endpoint, buffer: Uint8Array, length: number): void;
  /** A foreign datagram that passed the gate; `data` is only valid during the call. */
  foreignDatagram(data: Uint8Array, from: Endpoint): void;
}

/** How an {@link PacketEngine} starts. */
export interface EngineOptions {
  /** TUN MTU: padding cap and the size of the output buffer. */
  mtu: number;
  privateKey: Uint8Array | null;
  /** UDP port, reported by UAPI. */
  listenPort: number;
  /** Fills `dst` with secure random bytes. */
  random: (dst: Uint8Array) => void;
  /** Transport AEAD. @default the core's pure one */
  aead?: TransportAead;
  /** Unix ms for handshake timestamps. @default Date.now */
  wallClock?: () => number;
  /** Pass foreign datagrams to EngineOutput.foreignDatagram (else they are dropped). */
  reportForeign: boolean;
  /** Clock reading the engine starts at. */
  now: number;
}

/** The packet loop of one device: the core, its output buffer, and the peers waiting to flush. */
export class PacketEngine {
  readonly wg: WgInterface;
  /** The one output buffer every step writes into. */
  readonly out: Uint8Array;
  readonly #output: EngineOutput;
  readonly #reportForeign: boolean;
  readonly #foreignGate = new ForeignGate();
  /** Peers with packets possibly staged until a handshake completes. */
  readonly #waiting = new Set<Peer>();
  /** Handshake messages waiting for processHandshakes. */
  readonly handshakes = new HandshakeQueue();
  #underLoad = false;

  constructor(options: EngineOptions, output: EngineOutput) {
    this.wg = new WgInterface({
      random: options.random,
      aead: options.aead,
      wallClock: options.wallClock,
      mtu: options.mtu,
    });
    if (options.privateKey) this.wg.setPrivateKey(options.privateKey, options.now);
    this.wg.listenPort = options.listenPort;
    // Room for the largest sealed packet, whatever MTU the interface is given later.
    this.out = new Uint8Array(PACKET_BYTES_MAX + 128);
    this.#output = output;
    this.#reportForeign = options.reportForeign;
  }

  /** When runTimers is next due (monotonic ms). */
  nextDeadline(): number {
    return this.wg.nextDeadline();
  }

  /** TUN -> network, steps 1-3. */
  packetFromTun(packet: Uint8Array, now: number): void {
    const step = this.wg.encapsulate(packet, this.out, now);
    const peer = step.peer;
    if (step.action === "toNetwork") {
      // 2. A handshake initiation instead of a transport packet: the packet was staged.
      if (this.out[0] !== MESSAGE_TRANSPORT && peer) this.#waiting.add(peer);
      this.#send(step);
    } else if (step.action === "done" && peer) {
      this.#waiting.add(peer);
    }
  }

  /** Network -> TUN (or back to the network), steps 1-4; call processHandshakes after a batch. */
  datagramFromNetwork(datagram: Uint8Array, from: Endpoint, now: number): void {
    const type = messageType(datagram);
    if (type < MESSAGE_INITIATION || type > MESSAGE_TRANSPORT) {
      this.#foreign(datagram, from, now);
      return;
    }
    if (type !== MESSAGE_TRANSPORT) {
      if (datagram.length === HANDSHAKE_BYTES[type]) this.handshakes.push(datagram, from);
      return;
    }
    this.#decapsulate(datagram, from, now);
  }

  /**
   * Network step 5: runs queued handshake messages, at most HANDSHAKES_PER_ROUND (or
   * HANDSHAKES_PER_ROUND_UNDER_LOAD under load) so transport data is not held up behind them.
   *
   * @returns how many ran; the caller comes back while `handshakes.depth` is above 0
   */
  processHandshakes(now: number): number {
    const queue = this.handshakes;
    let ran = 0;
    while (queue.depth > 0) {
      const underLoad = queue.underLoad(now);
      if (underLoad !== this.#underLoad) {
        this.#underLoad = underLoad;
        this.wg.setUnderLoad(underLoad);
      }
      if (ran >= (underLoad ? HANDSHAKES_PER_ROUND_UNDER_LOAD : HANDSHAKES_PER_ROUND)) break;
      const { message, from } = queue.shift()!;
      this.#decapsulate(message, from, now);
      ran++;
    }
    return ran;
  }

  /** Whether initiations currently need a cookie (the handshake queue's verdict). */
  get underLoad(): boolean {
    return this.#underLoad;
  }

  /** Timers -> network: runs every due timer until the core is quiet. */
  runTimers(now: number): void {
    for (let n = 0; n < MAX_STEPS; n++) {
      const step = this.wg.tick(this.out, now);
      if (step.action === "done") break;
      if (step.action === "toNetwork") this.#send(step);
    }
  }

  /** Sends `data` as it is from the WireGuard socket; longer than the output buffer is dropped. */
  sendDatagram(to: Endpoint, data: Uint8Array): void {
    if (data.length > this.out.length) return;
    this.out.set(data, 0);
    this.#output.sendUdp(to, this.out, data.length);
  }

  /** Forgets that `peer` may have staged packets (it was removed). */
  forgetPeer(peer: Peer): void {
    this.#waiting.delete(peer);
  }

  /** Forgets every waiting peer (all peers were replaced). */
  forgetAllPeers(): void {
    this.#waiting.clear();
  }

  /** Network steps 3-4 for transport data, step 5 for a queued handshake message. */
  #decapsulate(datagram: Uint8Array, from: Endpoint, now: number): void {
    const step = this.wg.decapsulate(datagram, from, this.out, now);
    const peer = step.peer;
    if (step.action === "toTunnel") {
      this.#output.writeTun(this.out, step.length, peer);
    } else if (step.action === "toNetwork") {
      this.#send(step);
    }
    if (
      peer && step.action !== "error" &&
      (datagram[0] !== MESSAGE_TRANSPORT || this.#waiting.has(peer))
    ) {
      this.#flush(peer, now);
    }
  }

  /** Network step 4. */
  #flush(peer: Peer, now: number): void {
    let sent = false;
    for (let n = 0; n < MAX_STEPS; n++) {
      const step = this.wg.flush(peer, this.out, now);
      if (step.action === "done") break;
      if (step.action === "toNetwork") {
        sent = true;
        this.#send(step);
      } else if (step.action === "toTunnel") {
        this.#output.writeTun(this.out, step.length, peer);
      }
    }
    if (sent) this.#waiting.delete(peer);
  }

  /** Network step 1: a copy crosses to the listener only within the gate's bounds. */
  #foreign(datagram: Uint8Array, from: Endpoint, now: number): void {
    if (!this.#reportForeign || !this.#foreignGate.admit(datagram.length, now)) return;
    this.#output.foreignDatagram(datagram, from);
  }

  #send(step: Step): void {
    if (step.endpoint) this.#output.sendUdp(step.endpoint, this.out, step.length);
  }
}
