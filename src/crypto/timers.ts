// Timers of one peer (whitepaper §6, named after wireguard-go's timers.go): the packet flow calls
// the event hooks (dataSent, anyAuthenticatedPacketReceived, ...) which arm or disarm deadlines;
// WgInterface.tick() fires the deadlines that are due. Deadlines are absolute monotonic
// milliseconds, Infinity when disarmed, so a hook on the hot path is a comparison and a store.

import {
  KEEPALIVE_TIMEOUT_MS,
  REKEY_TIMEOUT_JITTER_MAX_MS,
  REKEY_TIMEOUT_MS,
  ZERO_KEYS_AFTER_MS,
} from "./constants.ts";

/** Draws jitter in [0, REKEY_TIMEOUT_JITTER_MAX_MS) from the injected random source, in batches. */
export class Jitter {
  readonly #random: (dst: Uint8Array) => void;
  readonly #pool = new Uint8Array(256);
  #used = 256;

  constructor(random: (dst: Uint8Array) => void) {
    this.#random = random;
  }

  /** A whole number of milliseconds below REKEY_TIMEOUT_JITTER_MAX_MS. */
  nextMs(): number {
    if (this.#used + 2 > this.#pool.length) {
      this.#random(this.#pool);
      this.#used = 0;
    }
    const value = this.#pool[this.#used] | (this.#pool[this.#used + 1] << 8);
    this.#used += 2;
    return value % REKEY_TIMEOUT_JITTER_MAX_MS;
  }
}

/** The five timers of a peer and the state they share. */
export class PeerTimers {
  /** Retransmit an unanswered initiation. */
  retransmitHandshakeAt = Infinity;
  /** Send a passive keepalive (data was received, nothing sent back). */
  sendKeepaliveAt = Infinity;
  /** Start a handshake: data was sent and nothing came back. */
  newHandshakeAt = Infinity;
  /** Zero all key material: no session derived for a long time. */
  zeroKeyMaterialAt = Infinity;
  /** Send a persistent keepalive. */
  persistentKeepaliveAt = Infinity;
  /** Data arrived while a keepalive was pending: send another one after it. */
  needAnotherKeepalive = false;
  /** Initiations sent since the last one that was not a retry. */
  handshakeAttempts = 0;
  /** The receive-side "last minute" handshake was already started for this session. */
  sentLastMinuteHandshake = false;
  /** Persistent keepalive interval, 0 when off. */
  persistentKeepaliveIntervalMs = 0;

  readonly #jitter: Jitter;

  constructor(jitter: Jitter) {
    this.#jitter = jitter;
  }

  /** Earliest deadline of this peer. */
  nextDeadline(): number {
    return Math.min(
      this.retransmitHandshakeAt,
      this.sendKeepaliveAt,
      this.newHandshakeAt,
      this.zeroKeyMaterialAt,
      this.persistentKeepaliveAt,
    );
  }

  /** Disarms every timer (peer removed, key changed). */
  stopAll(): void {
    this.retransmitHandshakeAt = Infinity;
    this.sendKeepaliveAt = Infinity;
    this.newHandshakeAt = Infinity;
    this.zeroKeyMaterialAt = Infinity;
    this.persistentKeepaliveAt = Infinity;
    this.needAnotherKeepalive = false;
  }

  /** A transport packet with data (not a keepalive) was sent: expect an answer. */
  dataSent(now: number): void {
    if (this.newHandshakeAt === Infinity) {
      this.newHandshakeAt = now + KEEPALIVE_TIMEOUT_MS + REKEY_TIMEOUT_MS + this.#jitter.nextMs();
    }
  }

  /** A transport packet with data was received: answer with a keepalive if nothing else goes. */
  dataReceived(now: number): void {
    if (this.sendKeepaliveAt === Infinity) this.sendKeepaliveAt = now + KEEPALIVE_TIMEOUT_MS;
    else this.needAnotherKeepalive = true;
  }

  /** Any authenticated packet (handshake, data or keepalive) was sent: no passive keepalive needed. */
  anyAuthenticatedPacketSent(): void {
    this.sendKeepaliveAt = Infinity;
  }

  /** Any authenticated packet was received: the peer is alive, no new handshake needed. */
  anyAuthenticatedPacketReceived(): void {
    this.newHandshakeAt = Infinity;
  }

  /** Any authenticated packet went either way: restart the persistent keepalive interval. */
  anyAuthenticatedPacketTraversal(now: number): void {
    if (this.persistentKeepaliveIntervalMs > 0) {
      this.persistentKeepaliveAt = now + this.persistentKeepaliveIntervalMs;
    }
  }

  /** An initiation was sent: retransmit it unless answered. */
  handshakeInitiated(now: number): void {
    this.retransmitHandshakeAt = now + REKEY_TIMEOUT_MS + this.#jitter.nextMs();
  }

  /** A handshake completed (response received, or first data under a responder session). */
  handshakeComplete(): void {
    this.retransmitHandshakeAt = Infinity;
    this.handshakeAttempts = 0;
    this.sentLastMinuteHandshake = false;
  }

  /** New transport keys were derived: zero them if nothing newer comes for three RejectAfterTimes. */
  sessionDerived(now: number): void {
    this.zeroKeyMaterialAt = now + ZERO_KEYS_AFTER_MS;
  }
}
