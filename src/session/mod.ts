// The door of src/session: the agent's control-plane client (login, WebSocket, requests,
// dispatch, reconciliation of the device). Other folders import the session from here.

export {
  DEFAULT_TIMING,
  type RegisteredEvent,
  type RegisteredListener,
  Session,
  type SessionError,
  type SessionOptions,
  type SessionStatus,
  type SessionTiming,
} from "./connection.ts";
export { SessionRequestError } from "./hub_requests.ts";
export type { PeerStatusJson } from "./peers.ts";
export { type ConnectionParams, StateStore } from "./state.ts";
export type { SessionExtension, TunnelView } from "./extensions.ts";
export type { HostResolver } from "./reconciliation.ts";
export { allowedIpsOf, directCandidate } from "./peers.ts";
export {
  type Tunnel,
  type TunnelFactory,
  type TunnelOptions,
  type TunnelPeerStats,
  wireguardTunnels,
} from "./tunnel.ts";
