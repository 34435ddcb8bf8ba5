// X25519 (RFC 7748), the one Diffie-Hellman burrow uses, and the Curve25519 key pairs made with
// it: the WireGuard core (src/crypto), the sealed endpoint announcements (src/protocol) and every
// role's keys share them. A leaf of its own, so that code that only needs a key (the main thread
// of an agent or hub: the WireGuard core runs in the device's Worker) does not load the core.

export { x25519 } from "./x25519.ts";
export {
  clampPrivateKey,
  generatePrivateKey,
  keyFromBase64,
  keyFromHex,
  keyToBase64,
  keyToHex,
  publicKeyOf,
} from "./keys.ts";
