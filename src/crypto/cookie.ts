// DoS protection on the handshake path (whitepaper §5.4.4, §5.4.7): mac1 proves the sender knows
// the responder's public key; under load, mac2 proves it can receive at its source address, via a
// cookie sent in an XChaCha20-Poly1305 cookie reply. Checker role (responder, one per interface)
// and generator role (initiator, one per peer).

import { openCookie, sealCookie } from "./aead.ts";
import { COOKIE_REFRESH_TIME_MS, LABEL_COOKIE, LABEL_MAC1 } from "./constants.ts";
import { equalBytes, hash, mac, MAC_BYTES, utf8 } from "./kdf.ts";
import {
  COOKIE_REPLY_BYTES,
  COOKIE_REPLY_COOKIE,
  COOKIE_REPLY_NONCE,
  COOKIE_REPLY_RECEIVER,
  MACS_BYTES,
  MESSAGE_COOKIE_REPLY,
  writeType,
  writeU32,
} from "./wire_messages.ts";

const MAC1_LABEL_BYTES = utf8(LABEL_MAC1);
const COOKIE_LABEL_BYTES = utf8(LABEL_COOKIE);
const COOKIE_NONCE_BYTES = 24;

/** `HASH(LABEL_MAC1 || publicKey)`: the key of mac1 for messages sent to `publicKey`. */
export function mac1Key(publicKey: Uint8Array): Uint8Array {
  return hash(MAC1_LABEL_BYTES, publicKey);
}

/** `HASH(LABEL_COOKIE || publicKey)`: the key encrypting cookies sent by `publicKey`. */
export function cookieKey(publicKey: Uint8Array): Uint8Array {
  return hash(COOKIE_LABEL_BYTES, publicKey);
}

/** The mac1 field of a handshake message (16 bytes before mac2). */
function mac1Field(message: Uint8Array): Uint8Array {
  return message.subarray(message.length - MACS_BYTES, message.length - MAC_BYTES);
}

/** Responder role: verifies mac1/mac2 of incoming handshake messages and makes cookie replies. */
export class CookieChecker {
  readonly #random: (dst: Uint8Array) => void;
  #mac1Key: Uint8Array | null = null;
  #cookieKey: Uint8Array | null = null;
  readonly #secret = new Uint8Array(32);
  #secretSetMs = -Infinity;

  constructor(random: (dst: Uint8Array) => void) {
    this.#random = random;
  }

  /** Re-derives the keys for a new local public key (null: no key, every mac1 fails). */
  setLocalPublicKey(publicKey: Uint8Array | null): void {
    this.#mac1Key = publicKey ? mac1Key(publicKey) : null;
    this.#cookieKey = publicKey ? cookieKey(publicKey) : null;
  }

  /** Whether mac1 of a handshake message is right. */
  checkMac1(message: Uint8Array): boolean {
    if (!this.#mac1Key) return false;
    const expected = mac(this.#mac1Key, message.subarray(0, message.length - MACS_BYTES));
    return equalBytes(expected, mac1Field(message));
  }

  /** Whether mac2 carries the current cookie for `source` (false once the secret has expired). */
  checkMac2(message: Uint8Array, source: Uint8Array, now: number): boolean {
    if (now - this.#secretSetMs > COOKIE_REFRESH_TIME_MS) return false;
    const cookie = mac(this.#secret, source);
    const expected = mac(cookie, message.subarray(0, message.length - MAC_BYTES));
    return equalBytes(expected, message.subarray(message.length - MAC_BYTES));
  }

  /**
   * Writes a 64-byte cookie reply to `message` into `out`, rotating the secret when it is older
   * than COOKIE_REFRESH_TIME.
   *
   * @param receiverIndex the sender index of the message being answered
   * @param source the sender's address bytes (IP and port)
   */
  writeReply(
    message: Uint8Array,
    receiverIndex: number,
    source: Uint8Array,
    now: number,
    out: Uint8Array,
  ): void {
    if (!this.#cookieKey) throw new RangeError("Cannot write a cookie reply: no local key");
    if (now - this.#secretSetMs > COOKIE_REFRESH_TIME_MS) {
      this.#random(this.#secret);
      this.#secretSetMs = now;
    }
    const cookie = mac(this.#secret, source);
    writeType(out, MESSAGE_COOKIE_REPLY);
    writeU32(out, COOKIE_REPLY_RECEIVER, receiverIndex);
    const nonce = out.subarray(COOKIE_REPLY_NONCE, COOKIE_REPLY_NONCE + COOKIE_NONCE_BYTES);
    this.#random(nonce);
    sealCookie(
      this.#cookieKey,
      nonce,
      cookie,
      mac1Field(message),
      out.subarray(COOKIE_REPLY_COOKIE, COOKIE_REPLY_BYTES),
    );
  }
}

/** Initiator role (per peer): adds mac1/mac2 to outgoing handshake messages, takes cookies. */
export class CookieGenerator {
  readonly #mac1Key: Uint8Array;
  readonly #cookieKey: Uint8Array;
  readonly #lastMac1 = new Uint8Array(MAC_BYTES);
  #hasLastMac1 = false;
  readonly #cookie = new Uint8Array(MAC_BYTES);
  #cookieSetMs = -Infinity;

  /** @param remotePublicKey the peer's static public key */
  constructor(remotePublicKey: Uint8Array) {
    this.#mac1Key = mac1Key(remotePublicKey);
    this.#cookieKey = cookieKey(remotePublicKey);
  }

  /** Fills mac1 and (with a fresh cookie) mac2 at the end of an outgoing handshake message. */
  addMacs(message: Uint8Array, now: number): void {
    const macStart = message.length - MACS_BYTES;
    const mac1 = mac(this.#mac1Key, message.subarray(0, macStart));
    message.set(mac1, macStart);
    this.#lastMac1.set(mac1);
    this.#hasLastMac1 = true;
    const mac2Start = message.length - MAC_BYTES;
    if (now - this.#cookieSetMs >= COOKIE_REFRESH_TIME_MS) {
      message.fill(0, mac2Start);
      return;
    }
    message.set(mac(this.#cookie, message.subarray(0, mac2Start)), mac2Start);
  }

  /**
   * Takes the cookie from a cookie reply answering our last handshake message.
   *
   * @returns false when it does not decrypt (forged, or not for our last mac1)
   */
  consumeReply(reply: Uint8Array, now: number): boolean {
    if (!this.#hasLastMac1) return false;
    const cookie = new Uint8Array(MAC_BYTES);
    const ok = openCookie(
      this.#cookieKey,
      reply.subarray(COOKIE_REPLY_NONCE, COOKIE_REPLY_NONCE + COOKIE_NONCE_BYTES),
      reply.subarray(COOKIE_REPLY_COOKIE, COOKIE_REPLY_BYTES),
      this.#lastMac1,
      cookie,
    );
    if (!ok) return false;
    this.#cookie.set(cookie);
    this.#cookieSetMs = now;
    return true;
  }
}
