// The outcome of every call into the core (encapsulate, decapsulate, flush, tick): one reused Step
// saying what the device must do with the bytes just written, or why nothing is to be done.
// Hostile or stale input is never thrown: it comes back as an error Step carrying a WgError.

import type { Endpoint, Peer } from "./peer.ts";

/** Why a packet was dropped. A string-literal union so callers can count and switch on it. */
export type WgError =
  | "InvalidMessage"
  | "InvalidMac"
  | "UnderLoad"
  | "UnknownIndex"
  | "UnknownPeer"
  | "DuplicateCounter"
  | "InvalidAeadTag"
  | "InvalidTimestamp"
  | "FloodedInitiation"
  | "NoCurrentSession"
  | "NoEndpoint"
  | "SourceNotAllowed"
  | "NoRoute"
  | "NoPrivateKey"
  | "ExpiredSession";

/**
 * What the device does next:
 * - `done`: nothing (a keepalive arrived, a packet was queued, no timer was due);
 * - `toNetwork`: send `out[0..length)` as one UDP datagram to `step.endpoint`;
 * - `toTunnel`: write `out[0..length)` to the TUN device;
 * - `error`: the input was dropped, `step.error` says why.
 */
export type Action = "done" | "toNetwork" | "toTunnel" | "error";

/** Reused by the interface for every call (no allocation per packet): read it before the next call. */
export interface Step {
  action: Action;
  /** Bytes written at `out[0..length)`. */
  length: number;
  error: WgError | null;
  /** The peer concerned, when known. */
  peer: Peer | null;
  /** Where a toNetwork datagram goes (the peer's endpoint or, for a cookie reply, the sender). */
  endpoint: Endpoint | null;
}
