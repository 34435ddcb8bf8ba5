// BurrowClient: one method per route of the agent's local API, both families, with the answer
// types of ./types.ts. Any answer that is not a success throws BurrowApiError (status + the
// API's own error text).

import { BurrowApiError } from "./client_errors.ts";
import { Transport, type TransportOptions } from "./http_transport.ts";
import type {
  AgentStatus,
  AllocatePortResponse,
  ConfigResponse,
  ConnectRequest,
  HealthResponse,
  InfoResponse,
  OlmAck,
  PacketriotAck,
  PortRule,
  TrafficDeleteRequest,
  TrafficRequest,
  TunnelStartResponse,
} from "./client_types.ts";

const PACKETRIOT = "/api/client/v1.0/";

export type BurrowClientOptions = TransportOptions;

/**
 * A typed client of burrow's local API (and of the Olm and Packetriot agents it mirrors).
 *
 * @example
 * ```ts
 * import { BurrowClient } from "@burrow/burrow/client";
 * const client = new BurrowClient({ socketPath: "/var/run/olm.sock" });
 * console.log((await client.status()).connected);
 * client.close();
 * ```
 */
export class BurrowClient {
  readonly #transport: Transport;

  /** @throws {TypeError} unless exactly one of `baseUrl` and `socketPath` is given */
  constructor(options: BurrowClientOptions) {
    this.#transport = new Transport(options);
  }

  /** Frees the Unix-socket HTTP client; the object is unusable afterwards. */
  close(): void {
    this.#transport.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // ---- Olm routes

  /** `POST /connect`: starts a session (202 accepted; the session comes up in the background). */
  connect(request: ConnectRequest): Promise<OlmAck> {
    return this.#olm("POST", "/connect", request);
  }

  /** `GET /status`. */
  status(): Promise<AgentStatus> {
    return this.#olm("GET", "/status");
  }

  /** `POST /disconnect`: ends the session (409 when none runs). */
  disconnect(): Promise<OlmAck> {
    return this.#olm("POST", "/disconnect");
  }

  /** `POST /switch-org`. */
  switchOrg(orgId: string): Promise<OlmAck> {
    return this.#olm("POST", "/switch-org", { orgId });
  }

  /** `POST /exit`: the agent shuts down shortly after answering. */
  exit(): Promise<OlmAck> {
    return this.#olm("POST", "/exit");
  }

  /** `GET /health`: the API answers. */
  health(): Promise<OlmAck> {
    return this.#olm("GET", "/health");
  }

  /** `GET /metrics`: the Prometheus scrape (text exposition format 0.0.4). */
  async metrics(): Promise<string> {
    const answer = await this.#transport.send("GET", "/metrics");
    return expectOk(answer, "GET", "/metrics", "olm");
  }

  /** `GET /openapi.json`: the OpenAPI 3.1 document of every route. */
  openApi(): Promise<Record<string, unknown>> {
    return this.#olm("GET", "/openapi.json");
  }

  // ---- Packetriot routes

  /** `GET info`: installed and running versions, whether the tunnel is up. */
  info(): Promise<InfoResponse> {
    return this.#packetriot("GET", "info");
  }

  /** `GET config`: the stored traffic rules. */
  config(): Promise<ConfigResponse> {
    return this.#packetriot("GET", "config");
  }

  /** `GET tun/start`: starts the session with the saved parameters. */
  startTunnel(): Promise<TunnelStartResponse> {
    return this.#packetriot("GET", "tun/start");
  }

  /** `GET tun/shutdown`. */
  shutdownTunnel(): Promise<PacketriotAck> {
    return this.#packetriot("GET", "tun/shutdown");
  }

  /** `GET tun/restart`. */
  restartTunnel(): Promise<PacketriotAck> {
    return this.#packetriot("GET", "tun/restart");
  }

  /** `GET health`: every rule's upstream checked; flowIDs as exact bigints. */
  async servicesHealth(): Promise<HealthResponse> {
    const answer = await this.#transport.send("GET", `${PACKETRIOT}health`);
    const body = expectOk(answer, "GET", `${PACKETRIOT}health`, "packetriot");
    return parseWithBigFlowIds(body) as HealthResponse;
  }

  /** `POST traffic/create`: adds rules (409 when one exists). */
  createTraffic(rules: TrafficRequest): Promise<PacketriotAck> {
    return this.#packetriot("POST", "traffic/create", rules);
  }

  /** `POST traffic/update`: replaces rules by key (404 when one is missing). */
  updateTraffic(rules: TrafficRequest): Promise<PacketriotAck> {
    return this.#packetriot("POST", "traffic/update", rules);
  }

  /** `GET traffic/delete` with a JSON body, as the spec sends it. */
  deleteTraffic(keys: TrafficDeleteRequest): Promise<PacketriotAck> {
    return this.#packetriot("GET", "traffic/delete", keys);
  }

  /** `GET ports/allocate`: a public port from the hub. */
  allocatePort(): Promise<AllocatePortResponse> {
    return this.#packetriot("GET", "ports/allocate");
  }

  /** `POST ports/release`: gives a port back (and drops its rule). */
  releasePort(port: number): Promise<PacketriotAck> {
    return this.#packetriot("POST", "ports/release", { port });
  }

  /** `GET ports/list`: every allocated port; one without a rule has no destination. */
  listPorts(): Promise<PortRule[]> {
    return this.#packetriot("GET", "ports/list");
  }

  // ----

  async #olm<T>(method: string, path: string, body?: unknown): Promise<T> {
    const answer = await this.#transport.send(method, path, body);
    return JSON.parse(expectOk(answer, method, path, "olm")) as T;
  }

  async #packetriot<T>(method: string, route: string, body?: unknown): Promise<T> {
    const path = PACKETRIOT + route;
    const answer = await this.#transport.send(method, path, body);
    return JSON.parse(expectOk(answer, method, path, "packetriot")) as T;
  }
}

/**
 * The body text of a 2xx answer.
 *
 * @throws {BurrowApiError} with the API's error text: Olm's plain line, Packetriot's `error`
 */
function expectOk(
  answer: { status: number; contentType: string; text: string },
  method: string,
  path: string,
  family: "olm" | "packetriot",
): string {
  if (answer.status >= 200 && answer.status < 300) return answer.text;
  let message = answer.text.trim();
  if (family === "packetriot" || answer.contentType.startsWith("application/json")) {
    try {
      const json = JSON.parse(answer.text);
      if (typeof json?.error === "string") message = json.error;
    } catch {
      // Not JSON: keep the text as it came.
    }
  }
  throw new BurrowApiError(answer.status, message, `${method} ${path}`);
}

// JSON.parse would round 64-bit flowIDs; they are read as text and made bigints.
function parseWithBigFlowIds(text: string): unknown {
  const quoted = text.replace(/"flowID"\s*:\s*(-?\d+)/g, '"flowID":"$1"');
  return JSON.parse(quoted, (key, value) => key === "flowID" ? BigInt(value) : value);
}
