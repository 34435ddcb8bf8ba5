// Which AEAD seals transport data on the hot path: node:crypto's native ChaCha20-Poly1305 (about
// three times @noble/ciphers here); the core keeps the pure one for everything else.

import { createNativeTransportAead, type TransportAead } from "../crypto/mod.ts";

/** The transport AEAD the engine hands the core. */
export function transportAead(): TransportAead {
  return createNativeTransportAead();
}
