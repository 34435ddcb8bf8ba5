// The hub's control plane (PROTOCOL.md sections 1-3): one HTTP handler for the login endpoint
// (agent_login.ts) and the WebSocket upgrade, and the table of agent sessions
// (agent_session.ts), one per agent, a newer one replacing the older. Everything else the hub
// does is reached through HubControlContext.

import { type Frame, LOGIN_PATH, MSG, type SiteConfig, WS_PATH } from "../protocol/mod.ts";
import type { HubStore } from "./client_store.ts";
import { answerLogin, LoginTokens } from "./agent_login.ts";
import { AgentSession, WS_TERMINATED } from "./agent_session.ts";

/** The private-resources service as the control plane uses it (./resource_service.ts). */
export interface ControlResources {
  /** The org a login lands in, or null when the client is not a member of the one asked. */
  orgForLogin(clientId: string, asked: string | null | undefined): string | null;
  /** The sites a registering client gets besides the hub. */
  sitesAtRegistration(clientId: string, org: string, holepunch: boolean): SiteConfig[];
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
  store: HubStore;
  /** Private resources; without it every agent gets only the hub as its site. */
  resources?: ControlResources;
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

const WS_REPLACED = 4000;

/**
 * The login endpoint and agent sessions. `handler` serves both paths; `terminate` ends an
 * agent's session with `olm/terminate`.
 */
export class HubControl {
  readonly #ctx: HubControlContext;
  readonly #tokens: LoginTokens;
  readonly #sessions = new Map<string, AgentSession>();
  readonly #maxFrameBytes: number;
  readonly #idleTimeoutMs: number;

  constructor(ctx: HubControlContext, options: ControlOptions = {}) {
    this.#ctx = ctx;
    this.#tokens = new LoginTokens(options.tokenTtlMs ?? 3_600_000);
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
    if (url.pathname === LOGIN_PATH) return await answerLogin(request, this.#ctx, this.#tokens);
    if (url.pathname === WS_PATH) return this.#upgrade(request, url);
    return new Response("not found\n", { status: 404 });
  };

  #upgrade(request: Request, url: URL): Response {
    const token = url.searchParams.get("token") ?? "";
    const entry = this.#tokens.entryOf(token);
    const clientId = entry?.clientId ?? null;
    if (clientId === null || !this.#ctx.store.getClient(clientId)) {
      this.#tokens.forget(token);
      return new Response("invalid or expired token\n", { status: 401 });
    }
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("expected a WebSocket upgrade\n", { status: 426 });
    }
    const { socket, response } = Deno.upgradeWebSocket(request);
    const session = new AgentSession(clientId, entry!.org, socket, this.#ctx, {
      maxFrameBytes: this.#maxFrameBytes,
      idleTimeoutMs: this.#idleTimeoutMs,
      onClose: (s) => {
        if (this.#sessions.get(s.clientId) !== s) return;
        this.#sessions.delete(s.clientId);
        this.#ctx.resources?.forget(s.clientId);
        this.#ctx.store.markOffline(s.clientId);
      },
    });
    const previous = this.#sessions.get(clientId);
    this.#sessions.set(clientId, session);
    previous?.close(WS_REPLACED, "replaced by a newer session");
    return response;
  }

  /**
   * Ends the agent's session: sends `olm/terminate`, closes the socket, forgets its tokens.
   */
  terminate(clientId: string, message: string): void {
    this.#tokens.forgetClient(clientId);
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
