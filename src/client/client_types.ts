// What the local API's routes take and answer, as JSON on the wire (docs/api.md): the Olm
// family at the root and the Packetriot family under /api/client/v1.0/. The rule and status
// shapes are protocol/'s, the ones the agent itself validates and builds.

import type {
  AgentStatusJson,
  FirewallRule,
  HttpsRule,
  PeerStatusJson,
  PortMapRule,
  PortRule,
} from "../protocol/mod.ts";

export type { FirewallRule, HttpsRule, PortMapRule, PortRule };

// ---- Olm routes

/** `POST /connect`: id, secret and endpoint are required; the rest fall back to the agent's flags. */
export interface ConnectRequest {
  id: string;
  secret: string;
  endpoint: string;
  userToken?: string;
  mtu?: number;
  dns?: string;
  upstreamDNS?: string[];
  interfaceName?: string;
  holepunch?: boolean;
  /** A Go duration such as "3s". */
  pingInterval?: string;
  pingTimeout?: string;
  orgId?: string;
}

/** The `{status}` body most Olm routes answer with. */
export interface OlmAck {
  status: string;
}

export type PeerStatus = PeerStatusJson;

/** `GET /status`. */
export type AgentStatus = AgentStatusJson;

// ---- Packetriot routes

/** A site to create or update: only `domain` is required; the agent fills the defaults. */
export type HttpsRuleInput = Pick<HttpsRule, "domain"> & Partial<HttpsRule>;

/** The body of `traffic/create` and `traffic/update`: any of the three lists. */
export interface TrafficRequest {
  https?: HttpsRuleInput[];
  ports?: PortRule[];
  portmaps?: PortMapRule[];
}

/** The body of `traffic/delete`: rules by key (domain, port); whole rule objects work too. */
export interface TrafficDeleteRequest {
  https?: ({ domain: string } & Partial<HttpsRule>)[];
  ports?: ({ port: number } & Partial<PortRule>)[];
  portmaps?: ({ port: number } & Partial<PortMapRule>)[];
}

/** The `{status, error}` envelope every Packetriot answer carries. */
export interface PacketriotAck {
  status: true;
  error: "";
}

export interface InfoResponse extends PacketriotAck {
  version: string;
  runtimeVersion: string;
  isUpdated: boolean;
  isTunConnected: boolean;
}

export interface ConfigResponse extends PacketriotAck {
  version: string;
  os: string;
  arch: string;
  /** Sites as stored, never with their private key. */
  https: Omit<HttpsRule, "privateKey">[];
  ports: PortRule[];
  portmaps: PortMapRule[];
}

export interface TunnelStartResponse extends PacketriotAck {
  /** Whether a session existed already. */
  isTunConnected: boolean;
}

/** One rule's health; `flowID` is 64-bit, kept exact as a bigint. */
export interface ServiceHealth {
  flowID: bigint;
  /** `flowID` in decimal, as the API also writes it. */
  flowIDString: string;
  available: boolean;
  http?: Omit<HttpsRule, "privateKey">;
  port?: PortRule;
}

export interface HealthResponse extends PacketriotAck {
  services: ServiceHealth[];
}

export interface AllocatePortResponse extends PacketriotAck {
  port: number;
  message: string;
}
