// Per-peer state of the packet flow: configuration (keys, endpoint, keepalive), the handshake in
// progress, the three sessions (previous/current/next), packets staged while no session exists,
// the cookie generator and the timers. WgInterface drives it; the device only reads and sets the
// public fields.

import { CookieGenerator } from "./cookie.ts";
import { TIMESTAMP_BYTES } from "./wire_messages.ts";
import type { Session } from "./transport_session.ts";
import { type Jitter, PeerTimers } from "./timers.ts";

/** A UDP address: `"10.0.0.1"` or `"fd00::1"` (no brackets) and a port. */
export interface Endpoint {
  address: string;
  port: number;
}

/** Where the handshake of a peer stands. */
export type HandshakeState = "zeroed" | "initiationCreated" | "initiationConsumed";

/** The handshake in progress with one peer, and what is remembered across handshakes. */
export class Handshake {
  state: HandshakeState = "zeroed";
  /** Our index for the handshake in progress, registered in the index table when `hasIndex`. */
  localIndex = 0;
  hasIndex = false;
  /** The peer's sender index from its initiation. */
  remoteIndex = 0;
  chainKey: Uint8Array | null = null;
  hash: Uint8Array | null = null;
  ephemeralPrivate: Uint8Array | null = null;
  remoteEphemeral: Uint8Array | null = null;
  /** Greatest TAI64N accepted from this peer: older or equal initiations are replays. */
  readonly lastTimestamp = new Uint8Array(TIMESTAMP_BYTES);
  /** Monotonic time of the last accepted initiation (flood check). */
  lastInitiationConsumedMs = -Infinity;
  /** Monotonic time of our last initiation (one per REKEY_TIMEOUT). */
  lastSentHandshakeMs = -Infinity;

  /** Forgets the keys of the handshake in progress (not the replay and rate memory). */
  zero(): void {
    this.state = "zeroed";
    this.chainKey?.fill(0);
    this.hash?.fill(0);
    this.ephemeralPrivate?.fill(0);
    this.chainKey =
      this.hash =
      this.ephemeralPrivate =
      this.remoteEphemeral =
        null;
    this.hasIndex = false;
    this.localIndex = 0;
  }
}

const KEY_BYTES = 32;

/** A WireGuard peer. Created by {@link WgInterface.upsertPeer}. */
export class Peer {
  /** The peer's static public key (32 bytes). Do not mutate. */
  readonly publicKey: Uint8Array;
  /** Mixed into every handshake; 32 zero bytes means none. */
  presharedKey: Uint8Array = new Uint8Array(KEY_BYTES);
  /**
   * Where datagrams for this peer go. Set by configuration, updated on every authenticated
   * packet from a new address (roaming). The interface keeps the object it was given.
   */
  endpoint: Endpoint | null = null;
  /** Wire bytes received from this peer (all authenticated messages). */
  rxBytes = 0;
  /** Wire bytes sent to this peer. */
  txBytes = 0;
  /** Monotonic `now` of the last completed handshake, 0 = never. */
  lastHandshakeMs = 0;

  /** @internal Timers, driven by WgInterface. */
  readonly timers: PeerTimers;
  /** @internal The handshake in progress. */
  readonly handshake = new Handshake();
  /** @internal mac1/mac2 and cookies for messages sent to this peer. */
  readonly cookies: CookieGenerator;
  /** @internal DH(our static, peer static), null without a private key or for an unusable key. */
  staticStatic: Uint8Array | null = null;
  /** @internal Sessions: the one before the current, the current, a responder's unconfirmed one. */
  previous: Session | null = null;
  current: Session | null = null;
  next: Session | null = null;
  /** @internal Packets (copies) waiting for a session, oldest first. */
  staged: Uint8Array[] = [];
  /** @internal A handshake should start at the next tick (rekey on send or receive). */
  wantHandshake = false;

  /** @internal Use WgInterface.upsertPeer. */
  constructor(publicKey: Uint8Array, jitter: Jitter) {
    if (publicKey.length !== KEY_BYTES) {
      throw new TypeError(
        `Cannot add peer: a public key is ${KEY_BYTES} bytes, received ${publicKey.length} bytes`,
      );
    }
    this.publicKey = publicKey.slice();
    this.timers = new PeerTimers(jitter);
    this.cookies = new CookieGenerator(this.publicKey);
  }

  /**
   * Seconds between persistent keepalives, 0 = off. Switching it on sends a keepalive at the
   * next tick (which starts a handshake when there is no session).
   */
  get persistentKeepaliveIntervalS(): number {
    return this.timers.persistentKeepaliveIntervalMs / 1000;
  }

  set persistentKeepaliveIntervalS(seconds: number) {
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 65535) {
      throw new TypeError(
        `Cannot set persistent keepalive: expected whole seconds 0-65535, received ${seconds}`,
      );
    }
    const wasOff = this.timers.persistentKeepaliveIntervalMs === 0;
    this.timers.persistentKeepaliveIntervalMs = seconds * 1000;
    if (seconds === 0) this.timers.persistentKeepaliveAt = Infinity;
    else if (wasOff) this.timers.persistentKeepaliveAt = -Infinity;
  }
}
