// Public surface of the sans-I/O WireGuard core, as consumed by the device (src/tun): the
// interface and its peers, the Step every call returns, the pluggable transport AEAD, and the
// protocol constants. The node:crypto AEAD lives in ./aead_native.ts, imported by the device only.

export { WgInterface, type WgInterfaceOptions } from "./interface.ts";
export { type Endpoint, Peer } from "./peer.ts";
export type { Action, Step, WgError } from "./errors.ts";
export { createNobleTransportAead, type TransportAead } from "./aead.ts";
export { AllowedIps } from "../tun/allowed_ips.ts";
export { publicKeyOf } from "./noise.ts";
export * from "./constants.ts";
