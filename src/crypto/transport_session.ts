// Transport data, the hot path of the packet flow (whitepaper §5.4.6): one Session (keypair) per
// completed handshake seals outgoing packets (header, counter nonce, padding, AEAD in place) and
// opens incoming ones (replay pre-check, AEAD, replay mark). No allocation per packet beyond what
// the AEAD itself needs.

import type { TransportAead } from "./aead.ts";
import { MAX_COUNTER, REJECT_AFTER_MESSAGES, REKEY_AFTER_MESSAGES } from "./constants.ts";
import {
  MESSAGE_TRANSPORT,
  readU32,
  TRANSPORT_COUNTER,
  TRANSPORT_HEADER_BYTES,
  TRANSPORT_RECEIVER,
  writeType,
  writeU32,
} from "./wire_messages.ts";
import { ReplayWindow } from "./replay.ts";

/**
 * Counters stay below this, sent or accepted: REJECT_AFTER_MESSAGES capped to exact doubles
 * (2^53 - 1). A session whose send counter reaches it is no longer used; the next packet is staged
 * and starts a handshake, as at REJECT_AFTER_MESSAGES.
 */
export const COUNTER_LIMIT = Math.min(REJECT_AFTER_MESSAGES, MAX_COUNTER);

/**
 * The initiator rekeys once its send counter passes this. REKEY_AFTER_MESSAGES (2^60) lies beyond
 * COUNTER_LIMIT and would never fire, so it is brought down to 2^52: rekeying still comes well
 * before sending stops, with 2^52 messages left for the new handshake (the spec leaves 15 * 2^60).
 */
export const REKEY_COUNTER_LIMIT = Math.min(REKEY_AFTER_MESSAGES, 2 ** 52);

/** Result of {@link Session.open}: plaintext length, or a negative code. */
export const OPEN_REPLAYED = -1;
export const OPEN_BAD_TAG = -2;

/** The keys and counters of one completed handshake. */
export class Session {
  /** Our index: the receiver index of packets sent to us under this session. */
  readonly localIndex: number;
  /** The peer's index, written into every packet we send. */
  readonly remoteIndex: number;
  readonly isInitiator: boolean;
  /** Monotonic time the session was derived. */
  readonly createdMs: number;
  readonly #sendKey: Uint8Array;
  readonly #receiveKey: Uint8Array;
  /** Next counter to send. */
  sendCounter = 0;
  readonly #replay = new ReplayWindow();

  constructor(
    sendKey: Uint8Array,
    receiveKey: Uint8Array,
    localIndex: number,
    remoteIndex: number,
    isInitiator: boolean,
    createdMs: number,
  ) {
    this.#sendKey = sendKey;
    this.#receiveKey = receiveKey;
    this.localIndex = localIndex;
    this.remoteIndex = remoteIndex;
    this.isInitiator = isInitiator;
    this.createdMs = createdMs;
  }

  /** Overwrites both keys with zeros and exhausts the counter so the session is never used again. */
  zero(): void {
    this.#sendKey.fill(0);
    this.#receiveKey.fill(0);
    this.sendCounter = COUNTER_LIMIT;
  }

  /**
   * Writes a transport message carrying `packet` padded to `paddedLength` into `out`.
   * The caller has checked that `out` is long enough and that the counter is below the limit.
   *
   * @returns bytes written (16 + paddedLength + 16)
   */
  seal(
    aead: TransportAead,
    packet: Uint8Array,
    paddedLength: number,
    out: Uint8Array,
  ): number {
    const counter = this.sendCounter++;
    writeType(out, MESSAGE_TRANSPORT);
    writeU32(out, TRANSPORT_RECEIVER, this.remoteIndex);
    const low = counter >>> 0;
    writeU32(out, TRANSPORT_COUNTER, low);
    writeU32(out, TRANSPORT_COUNTER + 4, (counter - low) / 4294967296);
    const end = TRANSPORT_HEADER_BYTES + paddedLength;
    if (packet.length > 0) out.set(packet, TRANSPORT_HEADER_BYTES);
    out.fill(0, TRANSPORT_HEADER_BYTES + packet.length, end);
    return TRANSPORT_HEADER_BYTES + aead.seal(
      this.#sendKey,
      counter,
      out.subarray(TRANSPORT_HEADER_BYTES, end),
      out.subarray(TRANSPORT_HEADER_BYTES),
    );
  }

  /**
   * Opens a transport message into `out` (replay pre-check, AEAD, then the window is marked).
   *
   * @returns the padded plaintext length, OPEN_REPLAYED or OPEN_BAD_TAG
   */
  open(aead: TransportAead, datagram: Uint8Array, counter: number, out: Uint8Array): number {
    if (!this.#replay.check(counter, COUNTER_LIMIT)) return OPEN_REPLAYED;
    const length = aead.open(
      this.#receiveKey,
      counter,
      datagram.subarray(TRANSPORT_HEADER_BYTES),
      out,
    );
    if (length < 0) return OPEN_BAD_TAG;
    // Two packets with one counter can both pass the pre-check; only the first is kept.
    if (!this.#replay.accept(counter, COUNTER_LIMIT)) return OPEN_REPLAYED;
    return length;
  }
}

/**
 * Reads the 64-bit counter of a transport message as a number, or -1 when it is at or above
 * 2^53 (no honest peer gets there: it would take centuries at line rate).
 */
export function readCounter(datagram: Uint8Array): number {
  const high = readU32(datagram, TRANSPORT_COUNTER + 4);
  if (high >= 0x200000) return -1;
  return high * 4294967296 + readU32(datagram, TRANSPORT_COUNTER);
}
