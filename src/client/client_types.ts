// What the local API's routes take and answer, as JSON on the wire (docs/api.md): the Olm
// family at the root and the Packetriot family under /api/client/v1.0/.

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

export interface PeerStatus {
  siteId: number;
  name: string;
  connected: boolean;
  rtt: number;
  lastSeen: string;
  endpoint: string;
  isRelay: boolean;
  peerAddress: string;
  holepunchConnected: boolean;
}

/** `GET /status`. */
export interface AgentStatus {
  connected: boolean;
  registered: boolean;
  terminated: boolean;
  version: string;
  agent: string;
  orgId: string;
  peers: Record<string, PeerStatus>;
  networkSettings: { tunnelIP: string };
  /** Why the hub refused or ended the session. */
  error?: { code: string; message: string };
}

// ---- Packetriot routes

export interface FirewallRule {
  sequence: number;
  action: "allow" | "drop";
  network: string;
}

/** An HTTP(S) site. Only `domain` is required when creating; the agent fills the defaults. */
export interface HttpsRule {
  domain: string;
  secure?: boolean;
  destination?: string;
  port?: number;
  webRoot?: string;
  useLetsEnc?: boolean;
  firewall?: FirewallRule[];
  redirect?: boolean;
  rewriteHost?: string;
  upstreamURL?: string;
  tls?: number;
  ca?: string;
  privateKey?: string;
}

export interface PortRule {
  port: number;
  destination: string;
  dstPort: number;
  firewall?: FirewallRule[];
}

export interface PortMapRule {
  port: number;
  dstPort: number;
  destination: string;
  transport: "tcp" | "udp";
  label: string;
}

/** The body of `traffic/create` and `traffic/update`: any of the three lists. */
export interface TrafficRequest {
  https?: HttpsRule[];
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
  https: HttpsRule[];
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
  available: boolean;
  http?: HttpsRule;
  port?: PortRule;
}

export interface HealthResponse extends PacketriotAck {
  services: ServiceHealth[];
}

export interface AllocatePortResponse extends PacketriotAck {
  port: number;
  message: string;
}
