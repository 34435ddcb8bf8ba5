// AEADs of the packet flow: ChaCha20-Poly1305 for handshake fields (counter 0, transcript hash as
// associated data) and for transport data (64-bit counter nonce, no associated data), and
// XChaCha20-Poly1305 for cookie replies. The transport AEAD is pluggable (TransportAead) so the
// device can pass node:crypto's native one (aead_native.ts) without this module importing it.

import { chacha20poly1305, xchacha20poly1305 } from "@noble/ciphers/chacha.js";

/** Poly1305 tag size. */
export const TAG_BYTES = 16;

/**
 * ChaCha20-Poly1305 over transport data. The nonce is 4 zero bytes then the 64-bit little-endian
 * counter; there is no associated data. Implementations must not keep `plaintext`/`ciphertext`
 * views beyond the call, and must accept `plaintext` sharing memory with the start of `out`
 * (sealing in place).
 */
export interface TransportAead {
  /** Encrypts `plaintext` into `out` (ciphertext then tag). @returns bytes written (length + 16). */
  seal(key: Uint8Array, counter: number, plaintext: Uint8Array, out: Uint8Array): number;
  /** Decrypts `ciphertext` (with its trailing tag) into `out`. @returns plaintext length, -1 on a bad tag. */
  open(key: Uint8Array, counter: number, ciphertext: Uint8Array, out: Uint8Array): number;
}

/** Writes the 96-bit ChaCha20-Poly1305 nonce for a 64-bit counter held in a number. */
export function writeCounterNonce(nonce: Uint8Array, counter: number): void {
  const low = counter >>> 0;
  const high = (counter - low) / 4294967296;
  nonce[0] =
    nonce[1] =
    nonce[2] =
    nonce[3] =
      0;
  nonce[4] = low;
  nonce[5] = low >>> 8;
  nonce[6] = low >>> 16;
  nonce[7] = low >>> 24;
  nonce[8] = high;
  nonce[9] = high >>> 8;
  nonce[10] = high >>> 16;
  nonce[11] = high >>> 24;
}

/**
 * ChaCha20-Poly1305 (RFC 8439) seal with @noble/ciphers: `plaintext` into `out` as ciphertext
 * then tag. `plaintext` may be the head of `out` (sealing in place).
 *
 * @returns bytes written (plaintext length + 16)
 */
export const nobleSeal: RawSeal = (key, nonce, aad, plaintext, out) => {
  const length = sealedLength(plaintext, out);
  chacha20poly1305(key, nonce, aad ?? undefined).encrypt(plaintext, out.subarray(0, length));
  return length;
};

/**
 * ChaCha20-Poly1305 open with @noble/ciphers: `ciphertext` (with its tag) into `out`.
 *
 * @returns plaintext length, or -1 when the tag does not verify
 */
export const nobleOpen: RawOpen = (key, nonce, aad, ciphertext, out) => {
  const length = openedLength(ciphertext, out);
  if (length < 0) return -1;
  const plaintext = out.subarray(0, length);
  const opened = verifies(() =>
    chacha20poly1305(key, nonce, aad ?? undefined).decrypt(ciphertext, plaintext)
  );
  return opened ? length : -1; // the lengths were checked above, so a throw is a bad tag
};

/**
 * The default transport AEAD, pure TypeScript (@noble/ciphers).
 *
 * @returns a TransportAead with its own nonce buffer (one per thread of use)
 */
export function createNobleTransportAead(): TransportAead {
  return transportAeadOf(nobleSeal, nobleOpen);
}

/** A ChaCha20-Poly1305 seal with an explicit nonce and optional associated data. @returns bytes written */
export type RawSeal = (
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array | null,
  plaintext: Uint8Array,
  out: Uint8Array,
) => number;
/** The matching open. @returns plaintext length, or -1 when the tag does not verify */
export type RawOpen = RawSeal;

/**
 * Wraps a raw seal/open pair as a TransportAead: counter nonce, no associated data.
 *
 * @returns a TransportAead with its own nonce buffer (one per thread of use)
 */
export function transportAeadOf(seal: RawSeal, open: RawOpen): TransportAead {
  const nonce = new Uint8Array(12);
  return {
    seal(key, counter, plaintext, out) {
      writeCounterNonce(nonce, counter);
      return seal(key, nonce, null, plaintext, out);
    },
    open(key, counter, ciphertext, out) {
      writeCounterNonce(nonce, counter);
      return open(key, nonce, null, ciphertext, out);
    },
  };
}

/**
 * Bytes a seal writes (plaintext then tag).
 *
 * @throws {RangeError} when `out` cannot hold them
 */
export function sealedLength(plaintext: Uint8Array, out: Uint8Array): number {
  const length = plaintext.length + TAG_BYTES;
  if (out.length < length) throw new RangeError("Cannot seal: output buffer too short");
  return length;
}

/**
 * Bytes an open writes, -1 when `ciphertext` is shorter than a tag.
 *
 * @throws {RangeError} when `out` cannot hold them
 */
export function openedLength(ciphertext: Uint8Array, out: Uint8Array): number {
  const length = ciphertext.length - TAG_BYTES;
  if (length < 0) return -1;
  if (out.length < length) throw new RangeError("Cannot open: output buffer too short");
  return length;
}

/** Runs a noble decrypt, which signals a bad tag by throwing. @returns false on a bad tag */
function verifies(decrypt: () => void): boolean {
  try {
    decrypt();
    return true;
  } catch {
    return false;
  }
}

const ZERO_NONCE_12 = new Uint8Array(12);

/** Handshake AEAD: ChaCha20-Poly1305 with counter 0 and `ad` (the transcript hash), into `out`. */
export function sealHandshake(
  key: Uint8Array,
  plaintext: Uint8Array,
  ad: Uint8Array,
  out: Uint8Array,
): void {
  chacha20poly1305(key, ZERO_NONCE_12, ad).encrypt(plaintext, out);
}

/** Opens a handshake field into `out`. @returns false when the tag does not verify. */
export function openHandshake(
  key: Uint8Array,
  ciphertext: Uint8Array,
  ad: Uint8Array,
  out: Uint8Array,
): boolean {
  return verifies(() => chacha20poly1305(key, ZERO_NONCE_12, ad).decrypt(ciphertext, out));
}

/** Cookie reply AEAD: XChaCha20-Poly1305 with a 24-byte random nonce and mac1 as associated data. */
export function sealCookie(
  key: Uint8Array,
  nonce: Uint8Array,
  cookie: Uint8Array,
  ad: Uint8Array,
  out: Uint8Array,
): void {
  xchacha20poly1305(key, nonce, ad).encrypt(cookie, out);
}

/** Opens an encrypted cookie into `out`. @returns false when the tag does not verify. */
export function openCookie(
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  ad: Uint8Array,
  out: Uint8Array,
): boolean {
  return verifies(() => xchacha20poly1305(key, nonce, ad).decrypt(ciphertext, out));
}
