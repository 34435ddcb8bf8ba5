// Public surface of the sans-I/O WireGuard core, as consumed by the device (src/tun), the hub and
// the session: the interface and its peers, the Step every call returns, the pluggable transport
// AEAD, the allowed-IPs table, Curve25519 key helpers and the protocol constants.
// The node:crypto AEAD (./aead_native.ts) is the device's fallback for the hot path when
// libsodium (src/tun/aead_sodium.ts, built on the raw seal/open types here) is missing; it is
// loaded only then, since node:crypto alone adds about 9 MiB to an isolate.

export { WgInterface, type WgInterfaceOptions } from "./interface.ts";
export { type Endpoint, Peer } from "./peer.ts";
export type { Action, Step, WgError } from "./step.ts";
export {
  createNobleTransportAead,
  openedLength,
  type RawOpen,
  type RawSeal,
  sealedLength,
  TAG_BYTES,
  type TransportAead,
  transportAeadOf,
} from "./aead.ts";
export { loadNativeTransportAead } from "./aead_native_loader.ts";
export { AllowedIps } from "./allowed_ips.ts";
export {
  COOKIE_REPLY_BYTES,
  INITIATION_BYTES,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  MESSAGE_TRANSPORT,
  messageType,
  RESPONSE_BYTES,
} from "./wire_messages.ts";
export * from "./constants.ts";
// mac1 alone: the hub's relay tells a handshake's responder by it, without any private key.
export { mac1Key } from "./cookie.ts";
export { equalBytes, mac } from "./kdf.ts";
