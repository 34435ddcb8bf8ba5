// The device's packet loop without I/O: one PacketEngine runs every packet through the sans-I/O
// core and hands what comes out to an EngineOutput (the TUN and UDP writers). The Worker shell
// (engine_worker.ts) feeds it from the reader rings and writes with libc; tests feed it from
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
//     2. decapsulate: data goes to the TUN (EngineOutput.writeTun), handshake answers and cookie
//        replies back to the network;
//     3. handshake messages are counted for the batch (under-load, step 5);
//     4. flush: packets staged during a handshake go out once it completed;
//     5. endNetworkBatch: many handshakes in one batch put the device under load (cookies first).
//   timers -> network   runTimers: retransmits, rekeys, keepalives, key zeroing, until quiet.
//   raw -> network      sendDatagram: bytes as they are from the WireGuard socket.

import {
  type Endpoint,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  MESSAGE_TRANSPORT,
  messageType,
  type Peer,
  type Step,
  type TransportAead,
  WgInterface,
} from "../crypto/mod.ts";
import { ForeignGate } from "./foreign_gate.ts";
import { PACKET_BYTES_MAX } from "./pool.ts";

/** This many handshake messages in one receive batch means they arrive faster than answered. */
const UNDER_LOAD_HANDSHAKES = 8;
/** How long the device stays under load after the backlog was last seen (as wireguard-go). */
const UNDER_LOAD_HOLD_MS = 1000;
/** A runaway step loop is a core bug; stop it rather than hang the device. */
const MAX_STEPS = 4096;

/** Where the engine's results go. Each call may only read `buffer[0…length)` while it runs. */
export interface EngineOutput {
  /** Writes one IP packet to the TUN. */
  writeTun(buffer: Uint8Array, length: number): void;
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
  #handshakesInBatch = 0;
  #underLoad = false;
  #underLoadUntil = 0;

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

  /** Network -> TUN (or back to the network), steps 1-4; call endNetworkBatch after a batch. */
  datagramFromNetwork(datagram: Uint8Array, from: Endpoint, now: number): void {
    const type = messageType(datagram);
    if (type < MESSAGE_INITIATION || type > MESSAGE_TRANSPORT) {
      this.#foreign(datagram, from, now);
      return;
    }
    if (type === MESSAGE_INITIATION || type === MESSAGE_RESPONSE) this.#handshakesInBatch++;
    const step = this.wg.decapsulate(datagram, from, this.out, now);
    const peer = step.peer;
    if (step.action === "toTunnel") {
      this.#output.writeTun(this.out, step.length);
    } else if (step.action === "toNetwork") {
      this.#send(step);
    }
    if (
      peer && step.action !== "error" && (type !== MESSAGE_TRANSPORT || this.#waiting.has(peer))
    ) {
      this.#flush(peer, now);
    }
  }

  /** Network step 5: under load, initiations need a cookie (mac2) first, so a flood costs no DH. */
  endNetworkBatch(now: number): void {
    const handshakes = this.#handshakesInBatch;
    this.#handshakesInBatch = 0;
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
        this.#output.writeTun(this.out, step.length);
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
