// Transport AEAD backed by node:crypto's native ChaCha20-Poly1305, for the device's hot path
// (encapsulate/decapsulate of data packets). Kept out of the pure core: src/crypto/mod.ts does not
// re-export it, so only the device (which does I/O anyway) pulls in node:crypto.

import { createCipheriv, createDecipheriv } from "node:crypto";
import { TAG_BYTES, type TransportAead, writeCounterNonce } from "./aead.ts";

const ALGORITHM = "chacha20-poly1305";

/**
 * A TransportAead using node:crypto (OpenSSL/BoringSSL in Deno). Each call creates one
 * cipher object: node:crypto has no way to re-key an existing one.
 *
 * @returns a TransportAead with its own nonce buffer
 * @example Use it for a WgInterface
 * ```ts
 * const wg = new WgInterface({ random: (b) => crypto.getRandomValues(b), aead: createNativeTransportAead() });
 * ```
 */
export function createNativeTransportAead(): TransportAead {
  const nonce = new Uint8Array(12);
  const options = { authTagLength: TAG_BYTES } as const;
  return {
    seal(key, counter, plaintext, out) {
      const length = plaintext.length + TAG_BYTES;
      if (out.length < length) throw new RangeError("Cannot seal: output buffer too short");
      writeCounterNonce(nonce, counter);
      const cipher = createCipheriv(ALGORITHM, key, nonce, options);
      // update() returns a fresh buffer, so plaintext may alias out.
      const body = cipher.update(plaintext);
      const tail = cipher.final();
      out.set(body, 0);
      if (tail.length > 0) out.set(tail, body.length);
      out.set(cipher.getAuthTag(), plaintext.length);
      return length;
    },
    open(key, counter, ciphertext, out) {
      const length = ciphertext.length - TAG_BYTES;
      if (length < 0) return -1;
      if (out.length < length) throw new RangeError("Cannot open: output buffer too short");
      writeCounterNonce(nonce, counter);
      const decipher = createDecipheriv(ALGORITHM, key, nonce, options);
      decipher.setAuthTag(ciphertext.subarray(length));
      const body = decipher.update(ciphertext.subarray(0, length));
      try {
        decipher.final();
      } catch {
        return -1; // bad tag: the plaintext is discarded unseen
      }
      out.set(body, 0);
      return length;
    },
  };
}
