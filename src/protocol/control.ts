// The agent <-> hub control protocol (PROTOCOL.md sections 1-3): paths, message types
// and payload shapes, shared by the agent's session and the hub so both speak one dialect.

/** Login path, relative to the endpoint. */
export const LOGIN_PATH = "/api/v1/auth/olm/get-token";
/** WebSocket path; the token and `clientType=olm` go in the query. */
export const WS_PATH = "/api/v1/ws";
export const CSRF_HEADER = "X-CSRF-Token";
export const CSRF_VALUE = "x-csrf-protection";

export interface LoginRequest {
  olmId: string;
  secret: string;
  userToken?: string;
  orgId?: string;
  /**
   * burrow: the resumption credential of the last login. The hub checks it without the slow
   * hash and answers a new one; a stale one only sends the login down the slow path.
   */
  resumeToken?: string;
}

export interface ExitNode {
  publicKey: string;
  endpoint: string;
  relayPort: number;
  siteIds: number[];
}

export interface LoginResponse {
  success: boolean;
  error: boolean;
  message: string;
  status: number;
  data: {
    token: string;
    serverVersion: string;
    exitNodes: ExitNode[];
    /** burrow: the single-use credential for the next login (see LoginRequest). */
    resumeToken?: string;
  } | null;
}

/** Every WebSocket frame: JSON text (or gzip-compressed binary carrying the same JSON). */
export interface Frame<T = unknown> {
  type: string;
  data: T;
  configVersion?: number;
}

export interface SiteAlias {
  alias: string;
  aliasAddress: string;
}

export interface SiteConfig {
  siteId: number;
  name: string;
  /** `host:port` of the site's WireGuard endpoint. */
  endpoint: string;
  relayEndpoint?: string;
  publicKey: string;
  serverIP: string;
  serverPort: number;
  remoteSubnets: string[];
  aliases: SiteAlias[];
}

export interface RegisterMessage {
  publicKey: string;
  relay: boolean;
  olmVersion: string;
  olmAgent: string;
  orgId: string;
  userToken?: string;
  chainId: string;
}

export interface ConnectMessage {
  sites: SiteConfig[];
  tunnelIP: string;
  utilitySubnet: string;
  chainId: string;
}

export interface ErrorMessage {
  code: string;
  message: string;
}

/** Message types, as on the wire. */
export const MSG = {
  register: "olm/wg/register",
  connect: "olm/wg/connect",
  ping: "olm/ping",
  pong: "pong",
  peerAdd: "olm/wg/peer/add",
  peerRemove: "olm/wg/peer/remove",
  peerUpdate: "olm/wg/peer/update",
  peerRelay: "olm/wg/peer/relay",
  peerUnrelay: "olm/wg/peer/unrelay",
  error: "olm/error",
  terminate: "olm/terminate",
  sync: "olm/sync",
  disconnecting: "olm/disconnecting",
  relay: "olm/wg/relay",
  unrelay: "olm/wg/unrelay",
  serverError: "error",
  // burrow extensions (section 3): every request carries requestId, every answer echoes it.
  portsAllocate: "burrow/ports/allocate",
  portsAllocated: "burrow/ports/allocated",
  portsRelease: "burrow/ports/release",
  portsReleased: "burrow/ports/released",
  portsList: "burrow/ports/list",
  portsListed: "burrow/ports/listed",
  rulesSync: "burrow/rules/sync",
  rulesApplied: "burrow/rules/applied",
  burrowError: "burrow/error",
} as const;

export interface BurrowErrorMessage {
  requestId: string;
  code: string;
  message: string;
}

/** In-tunnel RTT probe: magic, type (1 request, 2 reply), 8-byte big-endian ns timestamp. */
export const PROBE_MAGIC = 0xdeadbeef;
export const PROBE_LENGTH = 13;
export const PROBE_REQUEST = 1;
export const PROBE_REPLY = 2;
/** Outside-tunnel reachability test on the WireGuard UDP socket: prefix + 8 random bytes. */
export const TEST_REQUEST_PREFIX = "PANGOLIN_TEST_REQ";
export const TEST_RESPONSE_PREFIX = "PANGOLIN_TEST_RSP";

/**
 * Traffic paths (section 4): where ACME HTTP-01 challenges are asked for. The hub lets them
 * through a site's firewall; the agent answers them before any site rule.
 */
export const ACME_CHALLENGE_PREFIX = "/.well-known/acme-challenge/";
