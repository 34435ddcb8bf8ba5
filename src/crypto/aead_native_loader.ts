// Loads the node:crypto transport AEAD (aead_native.ts) on demand: importing node:crypto costs an
// isolate about 9 MiB, which the engine Worker pays only when libsodium is missing.

import type { TransportAead } from "./aead.ts";

/**
 * A TransportAead over node:crypto, loaded on first call.
 *
 * @returns null when this runtime's node:crypto lacks chacha20-poly1305
 */
export async function loadNativeTransportAead(): Promise<TransportAead | null> {
  try {
    const { createNativeTransportAead } = await import("./aead_native.ts");
    const aead = createNativeTransportAead();
    aead.seal(new Uint8Array(32), 0, new Uint8Array(0), new Uint8Array(16)); // the cipher exists
    return aead;
  } catch {
    return null;
  }
}
