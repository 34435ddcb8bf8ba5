// The hub's control plane (PROTOCOL.md sections 1-3): one HTTP handler for the login endpoint
// (agent_login.ts), the WebSocket upgrade's token check (a token opens one socket), and the
// table of agent sessions (agent_session.ts), one per agent, a newer one replacing the older.
// Everything else the hub does is reached through HubControlContext.

import { type Frame, LOGIN_PATH, MSG, type SiteConfig } from "../protocol/mod.ts";
import type { HubStore } from "./client_store.ts";
import { answerLogin, type LoginContext, LoginTokens, TOKEN_TTL_MS } from "./agent_login.ts";
import { AgentSession, WS_TERMINATED } from "./agent_session.ts";
import { LoginGate, type LoginGateOptions } from "./login_gate.ts";
import { ResumeCredentials } from "./resume_credentials.ts";
import type { UpgradeDecision } from "./control_listener.ts";

/** The private-resources service as the control plane uses it (./resource_service.ts). */
export interface ControlResources {
  /** The org a login lands in, or null when the client is not a member of the one asked. */
  orgForLogin(clientId: string, asked: string | null | undefined): string | null;
  /** The sites a registering client gets besides the hub. */
  sitesAtRegistration(clientId: string, org: string, holepunch: boolean): SiteConfig[];
  /** Something about agents changed (a registration): push updates to everyone. */
  changed(): void;
  /** The same, coalesced over a short moment (registrations come in storms). */
  changedSoon(): void;
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
  /** Ports one agent may hold at once. */
  portsPerAgent: number;
}

export interface ControlOptions {
  /** How long a login's token may wait to open its WebSocket. @default 30_000 */
  tokenTtlMs?: number;
  /** How long a resumption credential outlives its agent's last connection. @default 10 min */
  resumeTtlMs?: number;
  /** Limits of the slow (scrypt) login queue. */
  loginGate?: LoginGateOptions;
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
  readonly #login: LoginContext;
  readonly #sessions = new Map<string, AgentSession>();
  readonly #maxFrameBytes: number;
  readonly #idleTimeoutMs: number;

  constructor(ctx: HubControlContext, options: ControlOptions = {}) {
    this.#ctx = ctx;
    this.#tokens = new LoginTokens(options.tokenTtlMs ?? TOKEN_TTL_MS);
    this.#login = {
      store: ctx.store,
      site: () => ctx.site(),
      tokens: this.#tokens,
      gate: new LoginGate(options.loginGate),
      resume: new ResumeCredentials(ctx.store, options.resumeTtlMs),
      get resources() {
        return ctx.resources;
      },
    };
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

  /** Largest WebSocket message; the listener refuses bigger frames from their header. */
  get maxFrameBytes(): number {
    return this.#maxFrameBytes;
  }

  /** Serves the login endpoint; anything else but the WebSocket path is 404. */
  handler = async (request: Request, remoteAddress = "unknown"): Promise<Response> => {
    const url = new URL(request.url);
    if (url.pathname === LOGIN_PATH) return await answerLogin(request, this.#login, remoteAddress);
    return new Response("not found\n", { status: 404 });
  };

  /**
   * Decides a WebSocket request: 401 unless its token is fresh and unused (using it up), else
   * a taker that makes the socket the client's session.
   */
  upgrade = (url: URL): UpgradeDecision => {
    const token = url.searchParams.get("token") ?? "";
    const entry = this.#tokens.take(token);
    const clientId = entry?.clientId ?? null;
    if (clientId === null || !this.#ctx.store.getClient(clientId)) {
      return new Response("invalid, used or expired token\n", { status: 401 });
    }
    return (socket) => {
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
    };
  };

  /** Keeps the resumption credentials of connected agents from expiring. */
  async keepResumptionsAlive(): Promise<void> {
    await this.#login.resume.keepAlive(this.connected());
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
