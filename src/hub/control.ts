// The hub's control plane (PROTOCOL.md sections 1-3): the login endpoint that trades an id and
// secret for a token, and one WebSocket per agent carrying registration, pings, port
// allocation and rules sync. Everything else the hub does is reached through HubControlContext.

import { z } from "zod";
import {
  type BurrowErrorMessage,
  type ConnectMessage,
  CSRF_HEADER,
  CSRF_VALUE,
  type Frame,
  LOGIN_PATH,
  type LoginResponse,
  MSG,
  type SiteConfig,
  WS_PATH,
} from "../protocol/control.ts";
import { log } from "../log/logger.ts";
import { type HubStore, StoreConflict } from "./store.ts";
import { describeIssues, parseRulesSync } from "./rules_payload.ts";
import { keyFromBase64 } from "../tun/keys.ts";
import { VERSION } from "../version.ts";
import { concat } from "./relay.ts";

/** The private-resources service as the control plane uses it (./resource_service.ts). */
export interface ControlResources {
  /** The org a login lands in, or null when the client is not a member of the one asked. */
  orgForLogin(clientId: string, asked: string | null | undefined): string | null;
  /** The sites a registering client gets besides the hub. */
  sitesAtRegistration(clientId: string, org: string): SiteConfig[];
  /** Something about agents changed (a registration): push updates to everyone. */
  changed(): void;
  forget(clientId: string): void;
  /** The UDP port of the hub's relay (login's `exitNodes[].relayPort`). */
  readonly relayPort: number;
  /** The answer to `olm/wg/relay` (relayed true) or `olm/wg/unrelay`, or null for none. */
  answerRelay(clientId: string, siteId: number, relayed: boolean): Frame | null;
}

/** What the control plane needs from the rest of the hub. */
export interface HubControlContext {
  /** Private resources; without it every agent gets only the hub as its site. */
  resources?: ControlResources;
  store: HubStore;
  /** The hub as the one site every agent gets. */
  site(): SiteConfig;
  tunnelCidr: string;
  hubTunnelIP: string;
  utilitySubnet: string;
  portRange: { first: number; last: number };
  /** Installs (or moves) the agent's WireGuard peer. */
  attachPeer(publicKey: string, tunnelIP: string, previousKey: string | null): Promise<void>;
  /** Binds the public listener of a port about to be allocated; false when it cannot. */
  openPort(port: number): boolean;
  /** Closes the listener of a released port. */
  closePort(port: number): void;
  /** The store's ports, domains or rules changed: rebuild ingress routing. */
  ingressChanged(): void;
}

export interface ControlOptions {
  /** Token lifetime. @default 3_600_000 (one hour) */
  tokenTtlMs?: number;
  /** Largest WebSocket message accepted; larger ones close the socket (1009). @default 1 MiB */
  maxFrameBytes?: number;
  /** Close a socket silent for this long (Olm pings every 30 s). @default 100_000 */
  idleTimeoutMs?: number;
}

const MAX_LOGIN_BODY_BYTES = 8 * 1024;
const WS_MESSAGE_TOO_BIG = 1009;
const WS_POLICY_VIOLATION = 1008;
const WS_REPLACED = 4000;
const WS_TERMINATED = 4001;

const loginSchema = z.object({
  olmId: z.string().min(1).max(128),
  secret: z.string().min(1).max(512),
  userToken: z.string().max(4096).nullish(),
  orgId: z.string().max(256).nullish(),
});

const requestIdSchema = z.union([z.string().max(128), z.number()]);
const registerSchema = z.looseObject({
  publicKey: z.string().refine((text) => keyFromBase64(text) !== null, {
    message: "publicKey must be a base64 WireGuard key",
  }),
  chainId: z.string().max(256).optional(),
  /** Olm's `relay`: true when the agent does not hole-punch (every path relayed). */
  relay: z.boolean().optional(),
});
const portsRequestSchema = z.looseObject({ requestId: requestIdSchema });
const portReleaseSchema = z.looseObject({
  requestId: requestIdSchema,
  port: z.number().int().min(1).max(65535),
});

interface TokenEntry {
  clientId: string;
  /** The org the session runs in. */
  org: string;
  expiresAt: number;
}

/**
 * The login endpoint and agent sessions. `handler` serves both paths; `terminate` ends an
 * agent's session with `olm/terminate`.
 */
export class HubControl {
  readonly #ctx: HubControlContext;
  readonly #tokens = new Map<string, TokenEntry>();
  readonly #sessions = new Map<string, AgentSession>();
  readonly #tokenTtlMs: number;
  readonly #maxFrameBytes: number;
  readonly #idleTimeoutMs: number;

  constructor(ctx: HubControlContext, options: ControlOptions = {}) {
    this.#ctx = ctx;
    this.#tokenTtlMs = options.tokenTtlMs ?? 3_600_000;
    this.#maxFrameBytes = options.maxFrameBytes ?? 1024 * 1024;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 100_000;
  }

  /** Ids of agents with an open session. */
  connected(): string[] {
    return [...this.#sessions.keys()];
  }

  isConnected(clientId: string): boolean {
    return this.#sessions.has(clientId);
  }

  /** Registered sessions, the org each runs in and whether its agent hole-punches. */
  registered(): { clientId: string; org: string; holepunch: boolean }[] {
    return [...this.#sessions.values()].filter((s) => s.registered)
      .map((s) => ({ clientId: s.clientId, org: s.org, holepunch: s.holepunch }));
  }

  /** Sends a frame to the agent's session, if it has one. */
  send(clientId: string, frame: Frame): void {
    this.#sessions.get(clientId)?.send(frame);
  }

  /** Serves the login endpoint and the WebSocket; anything else is 404. */
  handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (url.pathname === LOGIN_PATH) return await this.#login(request);
    if (url.pathname === WS_PATH) return this.#upgrade(request, url);
    return new Response("not found\n", { status: 404 });
  };

  async #login(request: Request): Promise<Response> {
    if (request.method !== "POST") return loginError(405, "use POST");
    if (request.headers.get(CSRF_HEADER) !== CSRF_VALUE) {
      return loginError(403, `missing ${CSRF_HEADER} header`);
    }
    const text = await readCapped(request, MAX_LOGIN_BODY_BYTES);
    if (text === null) return loginError(413, "request body too large");
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return loginError(400, "body must be JSON");
    }
    const parsed = loginSchema.safeParse(json);
    if (!parsed.success) return loginError(400, describeIssues(parsed.error));
    const { olmId, secret } = parsed.data;
    if (!await this.#ctx.store.verifyClient(olmId, secret)) {
      log.warn("login refused", { clientId: olmId.slice(0, 128) });
      return loginError(401, "invalid id or secret");
    }
    const org = this.#ctx.resources
      ? this.#ctx.resources.orgForLogin(olmId, parsed.data.orgId)
      : parsed.data.orgId || "default";
    if (org === null) return loginError(403, "not a member of this organization");
    this.#sweepTokens();
    const token = randomToken();
    this.#tokens.set(token, { clientId: olmId, org, expiresAt: Date.now() + this.#tokenTtlMs });
    const site = this.#ctx.site();
    const body: LoginResponse = {
      success: true,
      error: false,
      message: "Token created successfully",
      status: 200,
      data: {
        token,
        serverVersion: VERSION,
        exitNodes: [{
          publicKey: site.publicKey,
          endpoint: site.endpoint,
          relayPort: this.#ctx.resources?.relayPort ?? site.serverPort,
          siteIds: [site.siteId],
        }],
      },
    };
    log.info("agent logged in", { clientId: olmId });
    return Response.json(body);
  }

  #sweepTokens(): void {
    const now = Date.now();
    for (const [token, entry] of this.#tokens) {
      if (entry.expiresAt <= now) this.#tokens.delete(token);
    }
  }

  #upgrade(request: Request, url: URL): Response {
    const token = url.searchParams.get("token") ?? "";
    const entry = this.#tokens.get(token);
    if (!entry || entry.expiresAt <= Date.now()) {
      if (entry) this.#tokens.delete(token);
      return new Response("invalid or expired token\n", { status: 401 });
    }
    if (!this.#ctx.store.getClient(entry.clientId)) {
      this.#tokens.delete(token);
      return new Response("invalid or expired token\n", { status: 401 });
    }
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("expected a WebSocket upgrade\n", { status: 426 });
    }
    const { socket, response } = Deno.upgradeWebSocket(request);
    const session = new AgentSession(entry.clientId, entry.org, socket, this.#ctx, {
      maxFrameBytes: this.#maxFrameBytes,
      idleTimeoutMs: this.#idleTimeoutMs,
      onClose: (s) => {
        if (this.#sessions.get(s.clientId) !== s) return;
        this.#sessions.delete(s.clientId);
        this.#ctx.resources?.forget(s.clientId);
      },
    });
    const previous = this.#sessions.get(entry.clientId);
    this.#sessions.set(entry.clientId, session);
    previous?.close(WS_REPLACED, "replaced by a newer session");
    return response;
  }

  /**
   * Ends the agent's session: sends `olm/terminate`, closes the socket, forgets its tokens.
   */
  terminate(clientId: string, message: string): void {
    for (const [token, entry] of this.#tokens) {
      if (entry.clientId === clientId) this.#tokens.delete(token);
    }
    const session = this.#sessions.get(clientId);
    if (!session) return;
    this.#sessions.delete(clientId);
    session.send({ type: MSG.terminate, data: { code: "client_removed", message } });
    session.close(WS_TERMINATED, "terminated");
  }

  /** Closes every session (hub shutdown). */
  closeAll(): void {
    for (const session of this.#sessions.values()) session.close(1001, "hub shutting down");
    this.#sessions.clear();
  }
}

function loginError(status: number, message: string): Response {
  const body: LoginResponse = { success: false, error: true, message, status, data: null };
  return Response.json(body, { status });
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

async function readCapped(request: Request, limit: number): Promise<string | null> {
  if (!request.body) return "";
  const bytes = await readStreamCapped(request.body, limit);
  return bytes === null ? null : new TextDecoder().decode(bytes);
}

/** Reads a whole stream, or cancels it and answers null once it passes `limit` bytes. */
async function readStreamCapped(
  stream: ReadableStream<Uint8Array>,
  limit: number,
): Promise<Uint8Array | null> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  return concat(chunks);
}

interface SessionOptions {
  maxFrameBytes: number;
  idleTimeoutMs: number;
  onClose(session: AgentSession): void;
}

/** One agent's WebSocket: frames in, answers out, in arrival order. */
class AgentSession {
  readonly #socket: WebSocket;
  readonly #ctx: HubControlContext;
  readonly #options: SessionOptions;
  readonly #log;
  #queue: Promise<void> = Promise.resolve();
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** Set once `olm/wg/connect` was sent. */
  registered = false;
  /** Whether the agent registered with `relay: false` (it hole-punches). */
  holepunch = false;

  constructor(
    readonly clientId: string,
    readonly org: string,
    socket: WebSocket,
    ctx: HubControlContext,
    options: SessionOptions,
  ) {
    this.#socket = socket;
    this.#ctx = ctx;
    this.#options = options;
    this.#log = log.with({ clientId });
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      this.#log.info("agent session open");
      this.#armIdle();
    };
    socket.onmessage = (event) => {
      this.#armIdle();
      // Frames are handled one after the other so answers keep the order of requests.
      this.#queue = this.#queue.then(() => this.#receive(event.data)).catch((error) => {
        this.#log.error("frame handling failed", { error });
        this.send({ type: MSG.serverError, data: { message: "internal error" } });
      });
    };
    socket.onclose = () => this.#finish();
    socket.onerror = () => {/* onclose follows */};
  }

  send(frame: Frame): void {
    if (this.#socket.readyState !== WebSocket.OPEN) return;
    this.#socket.send(JSON.stringify(frame));
  }

  close(code: number, reason: string): void {
    try {
      this.#socket.close(code, reason);
    } catch { /* already closing */ }
    this.#finish();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    this.#log.info("agent session closed");
    this.#options.onClose(this);
  }

  #armIdle(): void {
    clearTimeout(this.#idleTimer);
    if (this.#closed) return;
    this.#idleTimer = setTimeout(
      () => this.close(1001, "idle: no message received"),
      this.#options.idleTimeoutMs,
    );
  }

  async #receive(data: unknown): Promise<void> {
    if (this.#closed) return;
    let text: string;
    if (typeof data === "string") {
      if (data.length > this.#options.maxFrameBytes) {
        return this.close(WS_MESSAGE_TOO_BIG, "message too big");
      }
      text = data;
    } else if (data instanceof ArrayBuffer) {
      // Binary frames carry gzip-compressed JSON, as the server side may send them too.
      if (data.byteLength > this.#options.maxFrameBytes) {
        return this.close(WS_MESSAGE_TOO_BIG, "message too big");
      }
      const inflated = await gunzipCapped(new Uint8Array(data), this.#options.maxFrameBytes);
      if (inflated === "too big") return this.close(WS_MESSAGE_TOO_BIG, "message too big");
      if (inflated === null) return this.#error("binary frames must be gzip-compressed JSON");
      text = inflated;
    } else {
      return this.close(WS_POLICY_VIOLATION, "unsupported frame");
    }
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      return this.#error("frame is not JSON");
    }
    if (
      !frame || typeof frame !== "object" || typeof (frame as Frame).type !== "string"
    ) {
      return this.#error('frame must be an object with a string "type"');
    }
    await this.#dispatch(frame as Frame);
  }

  #error(message: string, type?: string): void {
    this.send({ type: MSG.serverError, data: { message, ...(type ? { type } : {}) } });
  }

  #burrowError(requestId: unknown, code: string, message: string): void {
    const data: BurrowErrorMessage = {
      requestId: typeof requestId === "string" || typeof requestId === "number"
        ? requestId as string
        : "",
      code,
      message,
    };
    this.send({ type: MSG.burrowError, data });
  }

  async #dispatch(frame: Frame): Promise<void> {
    const data = frame.data ?? {};
    switch (frame.type) {
      case MSG.register:
        return await this.#register(data);
      case MSG.ping:
        return this.send({ type: MSG.pong, data: { timestamp: Date.now() } });
      case MSG.disconnecting:
        return this.close(1000, "agent disconnecting");
      case MSG.relay:
      case MSG.unrelay: {
        // The agent moved a site's traffic to the relay or back to the direct path: confirm
        // with olm/wg/peer/relay or olm/wg/peer/unrelay (Olm's exchange).
        const siteId = (data as { siteId?: unknown }).siteId;
        if (typeof siteId !== "number") return this.#error("siteId must be a number", frame.type);
        const answer = this.#ctx.resources?.answerRelay(
          this.clientId,
          siteId,
          frame.type === MSG.relay,
        );
        if (answer) this.send(answer);
        return;
      }
      case MSG.portsAllocate:
        return this.#allocate(data);
      case MSG.portsRelease:
        return this.#release(data);
      case MSG.portsList:
        return this.#list(data);
      case MSG.rulesSync:
        return this.#sync(data);
      default:
        return this.#error(`unknown message type ${JSON.stringify(frame.type.slice(0, 64))}`);
    }
  }

  async #register(data: unknown): Promise<void> {
    const parsed = registerSchema.safeParse(data);
    if (!parsed.success) {
      return this.send({
        type: MSG.error,
        data: { code: "bad_register", message: describeIssues(parsed.error) },
      });
    }
    const { store } = this.#ctx;
    const before = store.getClient(this.clientId);
    if (!before) return this.close(WS_TERMINATED, "client removed");
    let tunnelIP: string;
    try {
      store.setPublicKey(this.clientId, parsed.data.publicKey);
      tunnelIP = store.assignTunnelIp(this.clientId, this.#ctx.tunnelCidr, this.#ctx.hubTunnelIP);
    } catch (error) {
      if (!(error instanceof StoreConflict)) throw error;
      return this.send({ type: MSG.error, data: { code: error.code, message: error.message } });
    }
    const previousKey = before.publicKey !== parsed.data.publicKey ? before.publicKey : null;
    this.holepunch = parsed.data.relay === false;
    await this.#ctx.attachPeer(parsed.data.publicKey, tunnelIP, previousKey);
    if (previousKey || before.tunnelIP !== tunnelIP) this.#ctx.ingressChanged();
    const bits = this.#ctx.tunnelCidr.split("/")[1];
    const connect: ConnectMessage = {
      sites: [
        this.#ctx.site(),
        ...this.#ctx.resources?.sitesAtRegistration(this.clientId, this.org) ?? [],
      ],
      tunnelIP: `${tunnelIP}/${bits}`,
      utilitySubnet: this.#ctx.utilitySubnet,
      chainId: parsed.data.chainId ?? "",
    };
    this.#log.info("agent registered", { tunnelIP, org: this.org });
    this.send({ type: MSG.connect, data: connect });
    this.registered = true;
    this.#ctx.resources?.changed();
  }

  #allocate(data: unknown): void {
    const parsed = portsRequestSchema.safeParse(data);
    if (!parsed.success) return this.#burrowError(undefined, "bad_request", "requestId required");
    const { requestId } = parsed.data;
    const port = this.#ctx.store.allocatePort(
      this.clientId,
      this.#ctx.portRange,
      (candidate) => this.#ctx.openPort(candidate),
    );
    if (port === null) {
      return this.#burrowError(requestId, "no_ports", "no free port left in the hub's range");
    }
    this.#ctx.ingressChanged();
    this.#log.info("port allocated", { port });
    this.send({ type: MSG.portsAllocated, data: { requestId, port } });
  }

  #release(data: unknown): void {
    const parsed = portReleaseSchema.safeParse(data);
    if (!parsed.success) {
      const requestId = (data as { requestId?: unknown })?.requestId;
      return this.#burrowError(requestId, "bad_request", describeIssues(parsed.error));
    }
    const { requestId, port } = parsed.data;
    if (!this.#ctx.store.releasePort(this.clientId, port)) {
      return this.#burrowError(requestId, "not_allocated", `port ${port} is not allocated to you`);
    }
    this.#ctx.closePort(port);
    this.#ctx.ingressChanged();
    this.#log.info("port released", { port });
    this.send({ type: MSG.portsReleased, data: { requestId, port } });
  }

  #list(data: unknown): void {
    const parsed = portsRequestSchema.safeParse(data);
    if (!parsed.success) return this.#burrowError(undefined, "bad_request", "requestId required");
    const ports = this.#ctx.store.portsOf(this.clientId);
    this.send({ type: MSG.portsListed, data: { requestId: parsed.data.requestId, ports } });
  }

  #sync(data: unknown): void {
    const parsed = parseRulesSync(data);
    if (!parsed.ok) return this.#burrowError(parsed.requestId, "bad_rules", parsed.message);
    const { requestId, revision, rules } = parsed;
    const { https, ports, portmaps } = rules;
    try {
      this.#ctx.store.applyRules(
        this.clientId,
        revision,
        https.map((rule) => rule.domain),
        ports.map((rule) => rule.port),
        JSON.stringify(rules),
      );
    } catch (error) {
      if (!(error instanceof StoreConflict)) throw error;
      return this.#burrowError(requestId, error.code, error.message);
    }
    this.#ctx.ingressChanged();
    this.#log.info("rules applied", {
      revision,
      domains: https.length,
      ports: ports.length,
      portmaps: portmaps.length,
    });
    this.send({ type: MSG.rulesApplied, data: { requestId, revision } });
  }
}

async function gunzipCapped(bytes: Uint8Array, limit: number): Promise<string | null | "too big"> {
  try {
    const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(
      new DecompressionStream("gzip"),
    );
    const inflated = await readStreamCapped(stream, limit);
    if (inflated === null) return "too big";
    return new TextDecoder("utf-8", { fatal: true }).decode(inflated);
  } catch {
    return null;
  }
}
