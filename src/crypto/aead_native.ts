// Transport AEAD backed by node:crypto's native ChaCha20-Poly1305, for the device's hot path
// (encapsulate/decapsulate of data packets). Kept out of the pure core: src/crypto/mod.ts does not
// re-export it, so only the device (which does I/O anyway) pulls in node:crypto.

import { createCipheriv, createDecipheriv } from "node:crypto";
import * as aead from "./aead.ts";

const ALGORITHM = "chacha20-poly1305";
const OPTIONS = { authTagLength: aead.TAG_BYTES } as const;

/**
 * ChaCha20-Poly1305 (RFC 8439) seal through node:crypto: `plaintext` into `out` as ciphertext
 * then tag. `plaintext` may alias the head of `out`.
 *
 * @returns bytes written (plaintext length + 16)
 */
export const nativeSeal: aead.RawSeal = (key, nonce, aad, plaintext, out) => {
  const length = aead.sealedLength(plaintext, out);
  const cipher = createCipheriv(ALGORITHM, key, nonce, OPTIONS);
  if (aad) cipher.setAAD(aad, { plaintextLength: plaintext.length });
  // update() returns a fresh buffer, so plaintext may alias out.
  const body = cipher.update(plaintext);
  const tail = cipher.final();
  out.set(body, 0);
  if (tail.length > 0) out.set(tail, body.length);
  out.set(cipher.getAuthTag(), plaintext.length);
  return length;
};

/**
 * ChaCha20-Poly1305 open through node:crypto: `ciphertext` (with its tag) into `out`.
 *
 * @returns plaintext length, or -1 when the tag does not verify (nothing is written then)
 */
export const nativeOpen: aead.RawOpen = (key, nonce, aad, ciphertext, out) => {
  const length = aead.openedLength(ciphertext, out);
  if (length < 0) return -1;
  const decipher = createDecipheriv(ALGORITHM, key, nonce, OPTIONS);
  decipher.setAuthTag(ciphertext.subarray(length));
  if (aad) decipher.setAAD(aad, { plaintextLength: length });
  const body = decipher.update(ciphertext.subarray(0, length));
  try {
    decipher.final();
  } catch {
    return -1; // bad tag: the plaintext is discarded unseen
  }
  out.set(body, 0);
  return length;
};

/**
 * A TransportAead using node:crypto (OpenSSL/BoringSSL in Deno). Each call creates one cipher
 * object: node:crypto has no way to re-key or re-nonce an existing one.
 *
 * @returns a TransportAead with its own nonce buffer
 * @example Use it for a WgInterface
 * ```ts
 * const wg = new WgInterface({
 *   random: (bytes) => crypto.getRandomValues(bytes),
 *   aead: createNativeTransportAead(),
 * });
 * ```
 */
export function createNativeTransportAead(): aead.TransportAead {
  return aead.transportAeadOf(nativeSeal, nativeOpen);
}
