// Public surface of the sans-I/O WireGuard core, as consumed by the device (src/tun), the hub and
// the session: the interface and its peers, the Step every call returns, the pluggable transport
// AEAD, the allowed-IPs table, Curve25519 key helpers and the protocol constants.
// The node:crypto AEAD (./aead_native.ts) is the device's choice for the hot path.

export { WgInterface, type WgInterfaceOptions } from "./interface.ts";
export { type Endpoint, Peer } from "./peer.ts";
export type { Action, Step, WgError } from "./step.ts";
export { createNobleTransportAead, type TransportAead } from "./aead.ts";
export { createNativeTransportAead } from "./aead_native.ts";
export { AllowedIps } from "./allowed_ips.ts";
export {
  clampPrivateKey,
  generatePrivateKey,
  keyFromBase64,
  keyFromHex,
  keyToBase64,
  keyToHex,
  publicKeyOf,
} from "./keys.ts";
export {
  MESSAGE_COOKIE_REPLY,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  MESSAGE_TRANSPORT,
  messageType,
} from "./wire_messages.ts";
export * from "./constants.ts";
// mac1 alone: the hub's relay tells a handshake's responder by it, without any private key.
export { mac1Key } from "./cookie.ts";
export { equalBytes, mac } from "./kdf.ts";
