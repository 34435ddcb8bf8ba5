// What the local API's handlers call, and nothing more: the narrow backend the routes are built
// over (Tailscale's LocalAPI shape). The agent implements it (src/agent/), tests pass fakes, so
// loading the routes loads no session, device or rules engine. Refusals are DomainErrors; their
// kind picks the HTTP status (src/api/api_errors.ts).

import type { AgentStatusJson } from "../protocol/mod.ts";

/** The connection `POST /connect` asks for (the agent saves it and logs in with it). */
export interface ConnectParams {
  endpoint: string;
  id: string;
  secret: string;
  orgId?: string;
  userToken?: string;
  mtu: number;
  interfaceName: string;
  holepunch: boolean;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  dns?: string;
  upstreamDns?: string[];
  /** Where the DNS proxy listens; the first host of the hub's utilitySubnet when absent. */
  dnsProxyIP?: string;
  /** Point the host's resolver at the DNS proxy while connected (Olm's --override-dns). */
  overrideDns?: boolean;
  /** Path of the client certificate for the hub: PEM (certificate and key) or PKCS#12. */
  tlsClientCert?: string;
}

/** `GET /status` (olm-api.txt): the wire shape lives in protocol/ (the session builds the peers). */
export type OlmStatus = AgentStatusJson;

/** The agent as the Olm routes drive it (src/api/olm.ts). */
export interface OlmBackend {
  /**
   * Saves `params` and starts a session with them in the background.
   *
   * @throws {DomainError} "conflict" when a session is already running
   */
  connect(params: ConnectParams): Promise<void>;
  /** The live status. */
  status(): OlmStatus;
  /**
   * Stops the session and waits until it is down.
   *
   * @throws {DomainError} "conflict" when no session is running
   */
  disconnect(): Promise<void>;
  /** Logs in again for `orgId`; any failure is answered 500 "Org switch failed: ...". */
  switchOrg(orgId: string): Promise<void>;
  /** Asks the process to shut down soon after the answer is sent. */
  requestExit(): void;
}

/** The agent's session as the Packetriot `tun/*` and `info` routes drive it. */
export interface PacketriotTunnel {
  /** Whether a valid, working tunnel session is established. */
  isConnected(): boolean;
  /**
   * Starts the session maintenance if it is not running; returns at once.
   *
   * @returns whether a session existed already
   * @throws {DomainError} "conflict" when nothing was ever configured to start
   */
  start(): boolean | Promise<boolean>;
  /** Ends the session (a no-op without one). */
  shutdown(): void | Promise<void>;
  /** Ends the session and starts a new one; returns once the new one is under way. */
  restart(): void | Promise<void>;
}

/**
 * The agent's traffic rules as the Packetriot `config`, `health`, `traffic/*` and `ports/*`
 * routes drive them (src/rules/engine.ts's TrafficEngine). Bodies are passed through unparsed:
 * the rules validate them and refuse with a RuleError carrying the status.
 */
export interface PacketriotRules {
  /** Every rule as `config` lists it (private keys left out). */
  rules(): { https: object[]; ports: object[]; portmaps: object[] };
  /** One entry per service; flow ids are 64-bit integers (bigint). */
  health(): Promise<readonly object[]>;
  create(body: unknown): Promise<void>;
  update(body: unknown): Promise<void>;
  remove(body: unknown): Promise<void>;
  /** @returns the allocated port */
  allocate(): Promise<number>;
  release(port: number): Promise<void>;
  /** The port rules, as `ports/list` answers them. */
  ports(): object[];
}
