// The WireGuard interface: the whole sans-I/O packet flow behind four calls.
//
//   TUN -> network   encapsulate: 1. route by destination (allowed IPs), 2. seal with the current
//                    session, or 3. stage the packet and start a handshake.
//   network -> ...   decapsulate: 1. type and exact length, 2. mac1 (and mac2 under load, else a
//                    cookie reply), 3. index lookup and replay pre-check, 4. crypto, 5. session and
//                    timer bookkeeping, roaming, 6. source check of the inner packet.
//   staged -> net    flush: packets queued during a handshake, once it completed.
//   timers -> net    tick: retransmits, rekeys, keepalives, key zeroing.
//
// Every call writes into a caller-owned buffer and returns the one reused Step.

import { AllowedIps } from "./allowed_ips.ts";
import { parseIp } from "../net/mod.ts";
import { createNobleTransportAead, type TransportAead } from "./aead.ts";
import {
  HANDSHAKE_INITIATION_RATE_MS,
  KEEPALIVE_TIMEOUT_MS,
  MAX_STAGED_PACKETS,
  MAX_TIMER_HANDSHAKES,
  PADDING_MULTIPLE,
  REJECT_AFTER_TIME_MS,
  REKEY_AFTER_TIME_MS,
  REKEY_ON_RECEIVE_AFTER_MS,
  REKEY_TIMEOUT_MS,
  ZERO_KEYS_AFTER_MS,
} from "./constants.ts";
import { CookieChecker } from "./cookie.ts";
import type { Step, WgError } from "./step.ts";
import { equalBytes } from "./kdf.ts";
import {
  COOKIE_REPLY_BYTES,
  COOKIE_REPLY_RECEIVER,
  INITIATION_BYTES,
  INITIATION_EPHEMERAL,
  INITIATION_SENDER,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  MESSAGE_TRANSPORT,
  messageType,
  readU32,
  RESPONSE_BYTES,
  RESPONSE_EPHEMERAL,
  RESPONSE_RECEIVER,
  RESPONSE_SENDER,
  tai64nAfter,
  TIMESTAMP_BYTES,
  TRANSPORT_HEADER_BYTES,
  TRANSPORT_RECEIVER,
  writeTai64n,
  writeType,
  writeU32,
} from "./wire_messages.ts";
import {
  dh,
  readInitiationBody,
  readResponseBody,
  splitSession,
  WIREGUARD_PROTOCOL,
  writeInitiationBody,
  writeResponseBody,
} from "./noise.ts";
import { publicKeyOf } from "../curve25519/mod.ts";
import { type Endpoint, Peer } from "./peer.ts";
import {
  COUNTER_LIMIT,
  OPEN_REPLAYED,
  readCounter,
  REKEY_COUNTER_LIMIT,
  Session,
} from "./transport_session.ts";
import { HandshakeRateLimiter } from "./ratelimiter.ts";
import { Jitter } from "./timers.ts";

/** Options of a {@link WgInterface}. */
export interface WgInterfaceOptions {
  /** Fills `dst` with cryptographically secure random bytes (keys, indexes, nonces, jitter). */
  random: (dst: Uint8Array) => void;
  /** Transport AEAD. @default the pure TypeScript one (@noble/ciphers) */
  aead?: TransportAead;
  /**
   * Unix time in milliseconds, read once per initiation for its TAI64N timestamp. It must keep
   * increasing across restarts (peers refuse older timestamps), which monotonic `now` does not.
   * @default Date.now
   */
  wallClock?: () => number;
  /** Padding never grows a packet beyond this (the TUN MTU); 0 = pad to 16 only. @default 0 */
  mtu?: number;
}

interface IndexEntry {
  peer: Peer;
  /** null while the index belongs to the peer's handshake in progress. */
  session: Session | null;
}

const KEY_BYTES = 32;
const EMPTY = new Uint8Array(0);
/** Out must fit the largest handshake message. */
const MIN_OUT_BYTES = INITIATION_BYTES;
/** Header, up to 15 bytes of padding (rounded to 16) and the tag. */
const TRANSPORT_OVERHEAD_BYTES = TRANSPORT_HEADER_BYTES + PADDING_MULTIPLE + 16;

function keyId(key: Uint8Array): string {
  let id = "";
  for (let i = 0; i < key.length; i++) id += (key[i] < 16 ? "0" : "") + key[i].toString(16);
  return id;
}

/** A userspace WireGuard interface without I/O: feed it packets, it returns what to send. */
export class WgInterface {
  /** UDP port, kept for UAPI only. */
  listenPort = 0;
  /** Firewall mark, kept for UAPI only. */
  fwmark = 0;
  /** Padding cap (the TUN MTU), 0 = none. */
  mtu: number;
  /** Cryptokey routing table: which peer owns which networks. */
  readonly allowedIps: AllowedIps<Peer> = new AllowedIps<Peer>();

  readonly #random: (dst: Uint8Array) => void;
  readonly #aead: TransportAead;
  readonly #wallClock: () => number;
  readonly #jitter: Jitter;
  readonly #cookieChecker: CookieChecker;
  readonly #rateLimiter = new HandshakeRateLimiter();
  readonly #peers = new Map<string, Peer>();
  readonly #indexes = new Map<number, IndexEntry>();
  readonly #indexBytes = new Uint8Array(4);
  readonly #timestamp = new Uint8Array(TIMESTAMP_BYTES);
  readonly #step: Step = { action: "done", length: 0, error: null, peer: null, endpoint: null };
  #privateKey: Uint8Array | null = null;
  #publicKey: Uint8Array | null = null;
  #underLoad = false;

  /** @throws {TypeError} when `random` is not a function */
  constructor(options: WgInterfaceOptions) {
    if (typeof options?.random !== "function") {
      throw new TypeError(
        `Cannot create WgInterface: random must be a function, received ${typeof options?.random}`,
      );
    }
    this.#random = options.random;
    this.#aead = options.aead ?? createNobleTransportAead();
    this.#wallClock = options.wallClock ?? Date.now;
    this.mtu = options.mtu ?? 0;
    this.#jitter = new Jitter(this.#random);
    this.#cookieChecker = new CookieChecker(this.#random);
  }

  /** Our static public key, null without a private key. */
  get publicKey(): Uint8Array | null {
    return this.#publicKey;
  }

  /**
   * Sets (or clears) the static private key. A changed key re-derives every peer's precomputed
   * DH, drops all sessions and handshakes, and removes a peer whose key equals our new public key.
   *
   * @throws {TypeError} when the key is not 32 bytes
   */
  setPrivateKey(key: Uint8Array | null, _now: number): void {
    if (key !== null && key.length !== KEY_BYTES) {
      throw new TypeError(
        `Cannot set private key: a key is ${KEY_BYTES} bytes, received ${key.length} bytes`,
      );
    }
    if (key && this.#privateKey && equalBytes(key, this.#privateKey)) return;
    if (!key && !this.#privateKey) return;
    this.#privateKey?.fill(0);
    this.#privateKey = key ? key.slice() : null;
    this.#publicKey = this.#privateKey ? publicKeyOf(this.#privateKey) : null;
    this.#cookieChecker.setLocalPublicKey(this.#publicKey);
    for (const peer of [...this.#peers.values()]) {
      if (this.#publicKey && equalBytes(peer.publicKey, this.#publicKey)) {
        this.removePeer(peer.publicKey);
        continue;
      }
      this.#zeroKeyMaterial(peer);
      // A new key handshakes at once, not a REKEY_TIMEOUT after the last initiation (as the kernel
      // and wireguard-go expire the keypairs).
      peer.handshake.lastSentHandshakeMs = -Infinity;
      peer.staticStatic = this.#privateKey ? dh(this.#privateKey, peer.publicKey) : null;
    }
  }

  /**
   * The peer with this public key, created (without endpoint or allowed IPs) when missing.
   *
   * @throws {TypeError} when the key is not 32 bytes
   */
  upsertPeer(publicKey: Uint8Array, _now: number): Peer {
    const id = keyId(publicKey);
    const existing = this.#peers.get(id);
    if (existing) return existing;
    const peer = new Peer(publicKey, this.#jitter);
    peer.staticStatic = this.#privateKey ? dh(this.#privateKey, peer.publicKey) : null;
    this.#peers.set(id, peer);
    return peer;
  }

  /** Removes a peer: its sessions, handshake, staged packets, timers and allowed IPs. */
  removePeer(publicKey: Uint8Array): void {
    const id = keyId(publicKey);
    const peer = this.#peers.get(id);
    if (!peer) return;
    this.#zeroKeyMaterial(peer);
    peer.timers.stopAll();
    peer.staged = [];
    peer.wantHandshake = false;
    this.allowedIps.removeByPeer(peer);
    this.#peers.delete(id);
  }

  /** Removes every peer. */
  removeAllPeers(): void {
    for (const peer of [...this.#peers.values()]) this.removePeer(peer.publicKey);
  }

  /** The peer with this public key. */
  peer(publicKey: Uint8Array): Peer | undefined {
    return this.#peers.get(keyId(publicKey));
  }

  /** All peers. */
  peers(): IterableIterator<Peer> {
    return this.#peers.values();
  }

  /**
   * When true, handshake messages without a valid mac2 are answered with a cookie reply, and those
   * with one are rate-limited per source IP (UnderLoad once over the limit).
   */
  setUnderLoad(underLoad: boolean): void {
    this.#underLoad = underLoad;
  }

  // ---------------------------------------------------------------------------------------------
  // TUN -> network

  /**
   * Encrypts an IP packet from the TUN for the peer owning its destination. Without a usable
   * session the packet is staged (bounded) and a handshake initiation is returned instead, or
   * `done` when one was sent recently.
   *
   * @param packet an IPv4 or IPv6 packet
   * @param out at least `packet.length + 48` and at least 148 bytes
   * @throws {RangeError} when `out` is too short
   */
  encapsulate(packet: Uint8Array, out: Uint8Array, now: number): Step {
    if (out.length < packet.length + TRANSPORT_OVERHEAD_BYTES || out.length < MIN_OUT_BYTES) {
      throw new RangeError(
        `Cannot encapsulate: out must hold ${
          Math.max(packet.length + TRANSPORT_OVERHEAD_BYTES, MIN_OUT_BYTES)
        } bytes, received ${out.length}`,
      );
    }
    const version = packet.length > 0 ? packet[0] >> 4 : 0;
    let peer: Peer | undefined;
    if (version === 4 && packet.length >= 20) peer = this.allowedIps.lookupAt(packet, 16, 4);
    else if (version === 6 && packet.length >= 40) peer = this.allowedIps.lookupAt(packet, 24, 16);
    else return this.#error("InvalidMessage", null);
    if (!peer) return this.#error("NoRoute", null);
    if (!this.#privateKey) return this.#error("NoPrivateKey", peer);
    const session = peer.current;
    if (session !== null && this.#usable(session, now)) {
      if (!peer.endpoint) return this.#error("NoEndpoint", peer);
      return this.#sendTransport(peer, session, packet, out, now);
    }
    this.#stage(peer, packet);
    const initiation = this.#sendInitiation(peer, false, out, now);
    if (initiation) return initiation;
    return peer.endpoint ? this.#done(peer) : this.#error("NoEndpoint", peer);
  }

  // ---------------------------------------------------------------------------------------------
  // network -> TUN or network

  /**
   * Processes one UDP datagram. `toTunnel`: write `out[0..length)` to the TUN (the source check
   * passed). `toNetwork`: send `out[0..length)` to `step.endpoint` (a handshake response, a
   * cookie reply, or the first packet of a new session). Never throws for hostile input.
   *
   * @param from the sender; the interface keeps this object as the peer's endpoint when roaming
   * @param out at least 148 bytes and at least `datagram.length`
   * @throws {RangeError} when `out` is too short
   */
  decapsulate(datagram: Uint8Array, from: Endpoint, out: Uint8Array, now: number): Step {
    if (out.length < MIN_OUT_BYTES || out.length < datagram.length) {
      throw new RangeError(
        `Cannot decapsulate: out must hold ${
          Math.max(MIN_OUT_BYTES, datagram.length)
        } bytes, received ${out.length}`,
      );
    }
    switch (messageType(datagram)) {
      case MESSAGE_TRANSPORT:
        if (datagram.length < TRANSPORT_OVERHEAD_BYTES - PADDING_MULTIPLE) break;
        return this.#receiveTransport(datagram, from, out, now);
      case MESSAGE_INITIATION:
        if (datagram.length !== INITIATION_BYTES) break;
        return this.#receiveInitiation(datagram, from, out, now);
      case MESSAGE_RESPONSE:
        if (datagram.length !== RESPONSE_BYTES) break;
        return this.#receiveResponse(datagram, from, out, now);
      case MESSAGE_COOKIE_REPLY:
        if (datagram.length !== COOKIE_REPLY_BYTES) break;
        return this.#receiveCookieReply(datagram, now);
    }
    return this.#error("InvalidMessage", null);
  }

  /**
   * Sends the packets staged for `peer` once it has a session: call until `done`.
   *
   * @throws {RangeError} when `out` cannot hold the next staged packet
   */
  flush(peer: Peer, out: Uint8Array, now: number): Step {
    const session = peer.current;
    if (peer.staged.length === 0 || session === null || !this.#usable(session, now)) {
      return this.#done(peer);
    }
    if (!peer.endpoint) return this.#done(peer);
    const packet = peer.staged[0];
    if (out.length < packet.length + TRANSPORT_OVERHEAD_BYTES) {
      throw new RangeError(
        `Cannot flush: out must hold ${
          packet.length + TRANSPORT_OVERHEAD_BYTES
        } bytes, received ${out.length}`,
      );
    }
    peer.staged.shift();
    return this.#sendTransport(peer, session, packet, out, now);
  }

  // ---------------------------------------------------------------------------------------------
  // timers -> network

  /**
   * Fires due timers: handshake retransmits (giving up after REKEY_ATTEMPT_TIME), rekeys, passive
   * and persistent keepalives, key zeroing. Call until `done`; each `toNetwork` goes to
   * `step.endpoint`.
   *
   * @param out at least 148 bytes, and room for staged packets
   */
  tick(out: Uint8Array, now: number): Step {
    if (out.length < MIN_OUT_BYTES) {
      throw new RangeError(
        `Cannot tick: out must hold ${MIN_OUT_BYTES} bytes, received ${out.length}`,
      );
    }
    for (const peer of this.#peers.values()) {
      const step = this.#tickPeer(peer, out, now);
      if (step) return step;
    }
    this.#rateLimiter.sweep(now);
    return this.#done(null);
  }

  /** Earliest `now` at which tick() has work; Infinity when none. */
  nextDeadline(): number {
    let earliest = Infinity;
    for (const peer of this.#peers.values()) {
      if (peer.wantHandshake) return 0;
      const deadline = peer.timers.nextDeadline();
      if (deadline < earliest) earliest = deadline;
    }
    return earliest === -Infinity ? 0 : earliest;
  }

  // ---------------------------------------------------------------------------------------------
  // Receiving

  #receiveInitiation(message: Uint8Array, from: Endpoint, out: Uint8Array, now: number): Step {
    const refused = this.#checkHandshakeMacs(message, from, out, now);
    if (refused) return refused;
    const local = this.#local()!;
    let peer: Peer | undefined;
    const result = readInitiationBody(
      WIREGUARD_PROTOCOL,
      local,
      message,
      INITIATION_EPHEMERAL,
      TIMESTAMP_BYTES,
      (remoteStatic) => {
        peer = this.#peers.get(keyId(remoteStatic));
        return peer?.staticStatic ?? null;
      },
    );
    if (typeof result === "string") return this.#error(result, peer ?? null);
    const found = peer!;
    const handshake = found.handshake;
    if (!tai64nAfter(result.payload, handshake.lastTimestamp)) {
      return this.#error("InvalidTimestamp", found);
    }
    if (now - handshake.lastInitiationConsumedMs <= HANDSHAKE_INITIATION_RATE_MS) {
      return this.#error("FloodedInitiation", found);
    }
    handshake.lastTimestamp.set(result.payload);
    handshake.lastInitiationConsumedMs = now;
    // A new initiation from the peer supersedes any handshake we had started with it.
    this.#dropHandshakeIndex(found);
    handshake.zero();
    handshake.state = "initiationConsumed";
    handshake.chainKey = result.chainKey;
    handshake.hash = result.hash;
    handshake.remoteEphemeral = result.remoteEphemeral;
    handshake.remoteIndex = readU32(message, INITIATION_SENDER);
    this.#authenticatedReceived(found, from, message.length, now);
    return this.#sendResponse(found, out, now);
  }

  #receiveResponse(message: Uint8Array, from: Endpoint, out: Uint8Array, now: number): Step {
    const refused = this.#checkHandshakeMacs(message, from, out, now);
    if (refused) return refused;
    const local = this.#local()!;
    const receiver = readU32(message, RESPONSE_RECEIVER);
    const entry = this.#indexes.get(receiver);
    if (!entry || entry.session !== null) return this.#error("UnknownIndex", null);
    const peer = entry.peer;
    const handshake = peer.handshake;
    if (handshake.state !== "initiationCreated" || handshake.localIndex !== receiver) {
      return this.#error("UnknownIndex", peer);
    }
    const result = readResponseBody(
      {
        chainKey: handshake.chainKey!,
        hash: handshake.hash!,
        ephemeralPrivate: handshake.ephemeralPrivate!,
      },
      local,
      peer.presharedKey,
      message,
      RESPONSE_EPHEMERAL,
      0,
    );
    if (typeof result === "string") return this.#error(result, peer);
    const [sendKey, receiveKey] = splitSession(result.chainKey);
    result.chainKey.fill(0);
    const session = new Session(
      sendKey,
      receiveKey,
      handshake.localIndex,
      readU32(message, RESPONSE_SENDER),
      true,
      now,
    );
    handshake.zero(); // the index now belongs to the session
    this.#beginSession(peer, session);
    this.#authenticatedReceived(peer, from, message.length, now);
    peer.timers.sessionDerived(now);
    peer.timers.handshakeComplete();
    peer.lastHandshakeMs = now;
    // Confirm the session to the responder at once: the oldest staged packet, or a keepalive.
    const packet = peer.staged.length > 0 ? peer.staged.shift()! : EMPTY;
    if (out.length < packet.length + TRANSPORT_OVERHEAD_BYTES) {
      peer.staged.unshift(packet); // left for flush(), which reports the short buffer
      return this.#done(peer);
    }
    return this.#sendTransport(peer, session, packet, out, now);
  }

  #receiveCookieReply(message: Uint8Array, now: number): Step {
    const entry = this.#indexes.get(readU32(message, COOKIE_REPLY_RECEIVER));
    if (!entry) return this.#error("UnknownIndex", null);
    if (!entry.peer.cookies.consumeReply(message, now)) {
      return this.#error("InvalidAeadTag", entry.peer);
    }
    // The retransmit timer resends the initiation, now with mac2.
    return this.#done(entry.peer);
  }

  #receiveTransport(datagram: Uint8Array, from: Endpoint, out: Uint8Array, now: number): Step {
    const entry = this.#indexes.get(readU32(datagram, TRANSPORT_RECEIVER));
    if (entry === undefined || entry.session === null) return this.#error("UnknownIndex", null);
    const session = entry.session;
    const peer = entry.peer;
    if (now - session.createdMs >= REJECT_AFTER_TIME_MS) return this.#error("ExpiredSession", peer);
    const counter = readCounter(datagram);
    if (counter < 0) return this.#error("DuplicateCounter", peer);
    const length = session.open(this.#aead, datagram, counter, out);
    if (length < 0) {
      return this.#error(length === OPEN_REPLAYED ? "DuplicateCounter" : "InvalidAeadTag", peer);
    }
    // Authenticated from here on.
    const timers = peer.timers;
    if (session === peer.next) {
      // First packet under a responder session: the initiator has it too, so it becomes current.
      this.#deleteSession(peer.previous);
      peer.previous = peer.current;
      peer.current = session;
      peer.next = null;
      timers.handshakeComplete();
      peer.lastHandshakeMs = now;
    }
    const current = peer.current;
    if (
      !timers.sentLastMinuteHandshake && current !== null && current.isInitiator &&
      now - current.createdMs > REKEY_ON_RECEIVE_AFTER_MS
    ) {
      timers.sentLastMinuteHandshake = true;
      peer.wantHandshake = true;
    }
    this.#authenticatedReceived(peer, from, datagram.length, now);
    if (length === 0) return this.#done(peer); // keepalive: nothing for the TUN
    timers.dataReceived(now);
    let total: number;
    let sourceOffset: number;
    let addressBytes: number;
    const version = out[0] >> 4;
    if (version === 4 && length >= 20) {
      total = (out[2] << 8) | out[3];
      if (total < 20) return this.#error("InvalidMessage", peer);
      sourceOffset = 12;
      addressBytes = 4;
    } else if (version === 6 && length >= 40) {
      total = 40 + ((out[4] << 8) | out[5]);
      sourceOffset = 8;
      addressBytes = 16;
    } else {
      return this.#error("InvalidMessage", peer);
    }
    if (total > length) return this.#error("InvalidMessage", peer);
    if (this.allowedIps.lookupAt(out, sourceOffset, addressBytes) !== peer) {
      return this.#error("SourceNotAllowed", peer);
    }
    return this.#toTunnel(total, peer);
  }

  /**
   * The cheap checks a handshake message passes before any DH: a private key, mac1, and under
   * load a valid mac2 (else a cookie reply to the sender) and the sender's rate limit.
   *
   * @returns null to go on, else the step to return
   */
  #checkHandshakeMacs(message: Uint8Array, from: Endpoint, out: Uint8Array, now: number) {
    if (!this.#privateKey) return this.#error("NoPrivateKey", null);
    if (!this.#cookieChecker.checkMac1(message)) return this.#error("InvalidMac", null);
    if (!this.#underLoad) return null;
    const source = sourceBytes(from);
    if (!this.#cookieChecker.checkMac2(message, source, now)) {
      this.#cookieChecker.writeReply(
        message,
        readU32(message, INITIATION_SENDER),
        source,
        now,
        out,
      );
      return this.#toNetwork(COOKIE_REPLY_BYTES, null, from);
    }
    // mac2 proves the sender owns its address, so its address is what the limit counts.
    if (!this.#rateLimiter.allow(from.address, now)) return this.#error("UnderLoad", null);
    return null;
  }

  /** Bookkeeping for a message that authenticated: counters, timers, roaming. */
  #authenticatedReceived(peer: Peer, from: Endpoint, bytes: number, now: number): void {
    peer.rxBytes += bytes;
    peer.timers.anyAuthenticatedPacketTraversal(now);
    peer.timers.anyAuthenticatedPacketReceived();
    this.#roam(peer, from);
  }

  /** Bookkeeping for a message we authenticated and send: counters and timers. */
  #authenticatedSent(peer: Peer, bytes: number, now: number): void {
    peer.txBytes += bytes;
    peer.timers.anyAuthenticatedPacketTraversal(now);
    peer.timers.anyAuthenticatedPacketSent();
  }

  // ---------------------------------------------------------------------------------------------
  // Sending

  #sendTransport(
    peer: Peer,
    session: Session,
    packet: Uint8Array,
    out: Uint8Array,
    now: number,
  ): Step {
    let padded = (packet.length + PADDING_MULTIPLE - 1) & ~(PADDING_MULTIPLE - 1);
    if (this.mtu > 0 && padded > this.mtu) padded = Math.max(packet.length, this.mtu);
    const length = session.seal(this.#aead, packet, padded, out);
    this.#authenticatedSent(peer, length, now);
    if (packet.length > 0) peer.timers.dataSent(now);
    // Only the initiator rekeys on age, so both ends do not start handshakes at once.
    if (
      session.isInitiator &&
      (session.sendCounter > REKEY_COUNTER_LIMIT || now - session.createdMs > REKEY_AFTER_TIME_MS)
    ) {
      peer.wantHandshake = true;
    }
    return this.#toNetwork(length, peer, peer.endpoint);
  }

  /** Writes an initiation to `out`, or returns null (rate-limited, no key, no endpoint). */
  #sendInitiation(peer: Peer, isRetry: boolean, out: Uint8Array, now: number): Step | null {
    const timers = peer.timers;
    if (!isRetry) timers.handshakeAttempts = 0;
    const handshake = peer.handshake;
    if (now - handshake.lastSentHandshakeMs < REKEY_TIMEOUT_MS) return null;
    handshake.lastSentHandshakeMs = now;
    const local = this.#local();
    if (!local || !peer.staticStatic) return null;
    if (!peer.endpoint) {
      // Nowhere to send it; keep retrying on schedule in case an endpoint appears.
      timers.handshakeInitiated(now);
      return null;
    }
    const ephemeralPrivate = new Uint8Array(KEY_BYTES);
    this.#random(ephemeralPrivate);
    this.#dropHandshakeIndex(peer);
    handshake.zero();
    const localIndex = this.#newIndex(peer);
    writeType(out, MESSAGE_INITIATION);
    writeU32(out, INITIATION_SENDER, localIndex);
    writeTai64n(this.#timestamp, 0, this.#wallClock());
    const state = writeInitiationBody(
      WIREGUARD_PROTOCOL,
      local,
      peer.publicKey,
      peer.staticStatic,
      ephemeralPrivate,
      this.#timestamp,
      out,
      INITIATION_EPHEMERAL,
    );
    if (!state) {
      this.#dropHandshakeIndex(peer);
      return null;
    }
    handshake.state = "initiationCreated";
    handshake.localIndex = localIndex;
    handshake.hasIndex = true;
    handshake.chainKey = state.chainKey;
    handshake.hash = state.hash;
    handshake.ephemeralPrivate = ephemeralPrivate;
    peer.cookies.addMacs(out.subarray(0, INITIATION_BYTES), now);
    this.#authenticatedSent(peer, INITIATION_BYTES, now);
    timers.handshakeInitiated(now);
    return this.#toNetwork(INITIATION_BYTES, peer, peer.endpoint);
  }

  #sendResponse(peer: Peer, out: Uint8Array, now: number): Step {
    const handshake = peer.handshake;
    const ephemeralPrivate = new Uint8Array(KEY_BYTES);
    this.#random(ephemeralPrivate);
    const localIndex = this.#newIndex(peer);
    writeType(out, MESSAGE_RESPONSE);
    writeU32(out, RESPONSE_SENDER, localIndex);
    writeU32(out, RESPONSE_RECEIVER, handshake.remoteIndex);
    const completed = writeResponseBody(
      {
        chainKey: handshake.chainKey!,
        hash: handshake.hash!,
        remoteEphemeral: handshake.remoteEphemeral!,
      },
      peer.publicKey,
      peer.presharedKey,
      ephemeralPrivate,
      EMPTY,
      out,
      RESPONSE_EPHEMERAL,
    );
    ephemeralPrivate.fill(0);
    if (!completed) {
      this.#indexes.delete(localIndex);
      handshake.zero();
      return this.#error("InvalidMessage", peer);
    }
    peer.cookies.addMacs(out.subarray(0, RESPONSE_BYTES), now);
    const [initiatorSend, initiatorReceive] = splitSession(completed.chainKey);
    completed.chainKey.fill(0);
    const session = new Session(
      initiatorReceive,
      initiatorSend,
      localIndex,
      handshake.remoteIndex,
      false,
      now,
    );
    handshake.zero();
    this.#beginSession(peer, session);
    peer.timers.sessionDerived(now);
    this.#authenticatedSent(peer, RESPONSE_BYTES, now);
    return this.#toNetwork(RESPONSE_BYTES, peer, peer.endpoint);
  }

  /** A keepalive (or the oldest staged packet); starts a handshake when there is no session. */
  #sendKeepalive(peer: Peer, out: Uint8Array, now: number): Step | null {
    if (peer.staged.length === 0) peer.staged.push(EMPTY);
    const session = peer.current;
    if (session === null || !this.#usable(session, now) || !peer.endpoint) {
      return this.#sendInitiation(peer, false, out, now);
    }
    const packet = peer.staged[0];
    if (out.length < packet.length + TRANSPORT_OVERHEAD_BYTES) return null;
    peer.staged.shift();
    return this.#sendTransport(peer, session, packet, out, now);
  }

  #tickPeer(peer: Peer, out: Uint8Array, now: number): Step | null {
    const timers = peer.timers;
    if (timers.zeroKeyMaterialAt <= now) {
      timers.zeroKeyMaterialAt = Infinity;
      this.#zeroKeyMaterial(peer);
    }
    if (timers.retransmitHandshakeAt <= now) {
      timers.retransmitHandshakeAt = Infinity;
      if (timers.handshakeAttempts > MAX_TIMER_HANDSHAKES) {
        // Give up (REKEY_ATTEMPT_TIME passed): drop what waited for the session.
        timers.sendKeepaliveAt = Infinity;
        peer.staged = [];
        if (timers.zeroKeyMaterialAt === Infinity) {
          timers.zeroKeyMaterialAt = now + ZERO_KEYS_AFTER_MS;
        }
      } else {
        timers.handshakeAttempts++;
        const step = this.#sendInitiation(peer, true, out, now);
        if (step) return step;
      }
    }
    if (peer.wantHandshake) {
      peer.wantHandshake = false;
      const step = this.#sendInitiation(peer, false, out, now);
      if (step) return step;
    }
    if (timers.sendKeepaliveAt <= now) {
      timers.sendKeepaliveAt = Infinity;
      const step = this.#sendKeepalive(peer, out, now);
      if (timers.needAnotherKeepalive) {
        timers.needAnotherKeepalive = false;
        timers.sendKeepaliveAt = now + KEEPALIVE_TIMEOUT_MS;
      }
      if (step) return step;
    }
    if (timers.newHandshakeAt <= now) {
      timers.newHandshakeAt = Infinity;
      const step = this.#sendInitiation(peer, false, out, now);
      if (step) return step;
    }
    if (timers.persistentKeepaliveAt <= now) {
      timers.persistentKeepaliveAt = Infinity;
      if (timers.persistentKeepaliveIntervalMs > 0) {
        const step = this.#sendKeepalive(peer, out, now);
        if (step) return step;
      }
    }
    if (peer.staged.length > 0 && peer.current !== null && this.#usable(peer.current, now)) {
      const step = this.flush(peer, out, now);
      if (step.action === "toNetwork") return step;
    }
    return null;
  }

  // ---------------------------------------------------------------------------------------------
  // Sessions and indexes

  #usable(session: Session, now: number): boolean {
    return session.sendCounter < COUNTER_LIMIT && now - session.createdMs < REJECT_AFTER_TIME_MS;
  }

  /** Installs a new session: the initiator uses it at once, a responder keeps it as `next`. */
  #beginSession(peer: Peer, session: Session): void {
    this.#indexes.set(session.localIndex, { peer, session });
    if (session.isInitiator) {
      if (peer.next !== null) {
        this.#deleteSession(peer.previous);
        peer.previous = peer.next;
        peer.next = null;
        this.#deleteSession(peer.current);
      } else {
        this.#deleteSession(peer.previous);
        peer.previous = peer.current;
      }
      peer.current = session;
    } else {
      this.#deleteSession(peer.next);
      peer.next = session;
      this.#deleteSession(peer.previous);
      peer.previous = null;
    }
  }

  #deleteSession(session: Session | null): void {
    if (session === null) return;
    const entry = this.#indexes.get(session.localIndex);
    if (entry?.session === session) this.#indexes.delete(session.localIndex);
    session.zero();
  }

  /** Zeroes and forgets every session and the handshake in progress of a peer. */
  #zeroKeyMaterial(peer: Peer): void {
    this.#deleteSession(peer.previous);
    this.#deleteSession(peer.current);
    this.#deleteSession(peer.next);
    peer.previous = peer.current = peer.next = null;
    this.#dropHandshakeIndex(peer);
    peer.handshake.zero();
  }

  #dropHandshakeIndex(peer: Peer): void {
    const handshake = peer.handshake;
    if (!handshake.hasIndex) return;
    const entry = this.#indexes.get(handshake.localIndex);
    if (entry && entry.session === null && entry.peer === peer) {
      this.#indexes.delete(handshake.localIndex);
    }
    handshake.hasIndex = false;
  }

  /** A fresh random index registered for the peer's handshake. */
  #newIndex(peer: Peer): number {
    for (;;) {
      this.#random(this.#indexBytes);
      const index = readU32(this.#indexBytes, 0);
      if (this.#indexes.has(index)) continue;
      this.#indexes.set(index, { peer, session: null });
      return index;
    }
  }

  #stage(peer: Peer, packet: Uint8Array): void {
    if (peer.staged.length >= MAX_STAGED_PACKETS) peer.staged.shift();
    peer.staged.push(packet.slice());
  }

  #roam(peer: Peer, from: Endpoint): void {
    const endpoint = peer.endpoint;
    if (endpoint === from) return;
    if (endpoint === null || endpoint.port !== from.port || endpoint.address !== from.address) {
      peer.endpoint = from;
    }
  }

  #local(): { privateKey: Uint8Array; publicKey: Uint8Array } | null {
    return this.#privateKey && this.#publicKey
      ? { privateKey: this.#privateKey, publicKey: this.#publicKey }
      : null;
  }

  // ---------------------------------------------------------------------------------------------
  // The reused step

  #done(peer: Peer | null): Step {
    return this.#setStep("done", 0, null, peer, null);
  }

  #error(error: WgError, peer: Peer | null): Step {
    return this.#setStep("error", 0, error, peer, null);
  }

  #toNetwork(length: number, peer: Peer | null, endpoint: Endpoint | null): Step {
    return this.#setStep("toNetwork", length, null, peer, endpoint);
  }

  #toTunnel(length: number, peer: Peer): Step {
    return this.#setStep("toTunnel", length, null, peer, null);
  }

  #setStep(
    action: Step["action"],
    length: number,
    error: WgError | null,
    peer: Peer | null,
    endpoint: Endpoint | null,
  ): Step {
    const step = this.#step;
    step.action = action;
    step.length = length;
    step.error = error;
    step.peer = peer;
    step.endpoint = endpoint;
    return step;
  }
}

/** Bytes identifying a sender for cookies: address bytes and port (text for non-IP addresses). */
function sourceBytes(from: Endpoint): Uint8Array {
  const ip = parseIp(from.address);
  if (!ip) return new TextEncoder().encode(`${from.address}|${from.port}`);
  const out = new Uint8Array(ip.length + 2);
  out.set(ip);
  out[ip.length] = from.port >> 8;
  out[ip.length + 1] = from.port;
  return out;
}
