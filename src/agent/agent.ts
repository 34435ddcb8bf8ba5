// The agent object: one hub session at a time, its saved parameters, and the operations the
// local API drives. Both API families use this one object, so Olm's /status and Packetriot's
// info always agree.
//
// What the Packetriot routes and the rules engine use (everything else is for Olm routes):
//
//   agent.startTunnel()            start the session with the last saved parameters
//   agent.stopTunnel()             stop it (interface, routes, socket down); no error when idle
//   agent.restartTunnel()          stop then start
//   agent.isActive                 a session is running or trying to (not stopped/terminated)
//   agent.status()                 the same live object GET /status answers
//   agent.request(type, data)      a burrow extension request to the hub (requestId handled);
//                                  rejects with SessionRequestError (code, message)
//   agent.tunnelAddress()          the tunnel IP without prefix ("100.89.128.3"), or undefined
//   agent.hubAddress()             the hub's tunnel IP (its site, matched by the hub's key), or
//                                  undefined: the one source the PROXY-header trust reads
//   agent.onRegistered(listener)   called after every (re)registration of any session, once the
//                                  device is configured: the place to sync rules to the hub
//   agent.stateDir                 the state directory (rules keep their files there too)
//   agent.packetriotSession()      the four calls above as src/api/backend.ts's PacketriotTunnel
//
// The Olm routes drive it through src/api/backend.ts's OlmBackend, which it implements.

import type { OlmBackend, OlmStatus, PacketriotTunnel } from "../api/mod.ts";
import { DomainError } from "../errors/mod.ts";
import { log as rootLog, type Logger } from "../log/mod.ts";
import type { Frame } from "../protocol/mod.ts";
import { AGENT_NAME, VERSION } from "../version.ts";
import {
  type ConnectionParams,
  type PeerStatusJson,
  type RegisteredListener,
  type Session,
  SessionRequestError,
  type StateStore,
  type TunnelPeerStats,
} from "../session/mod.ts";

/** `GET /status` (olm-api.txt), plus `error` when the hub refused or ended the session. */
export type AgentStatus = OlmStatus & { peers: Record<string, PeerStatusJson> };

/**
 * Thrown by connect() while a session runs, by disconnect() while none does and by
 * startTunnel() with nothing saved: a refusal for the agent's state (the API answers 409).
 */
export class AgentStateError extends DomainError {
  override name = "AgentStateError";
  constructor(message: string) {
    super("conflict", message);
  }
}

/**
 * Makes the (not yet started) session of one connection: src/agent/compose.ts wires the real
 * one (the hub session over the WireGuard device), tests may wire fakes.
 */
export type SessionFactory = (params: ConnectionParams, privateKey: Uint8Array) => Session;

export interface AgentOptions {
  /** The state directory: identity and saved connection. */
  store: StateStore;
  sessions: SessionFactory;
  log?: Logger;
  /** Delay between answering `/exit` and shutting down. @default 100 */
  exitDelayMs?: number;
}

export class Agent implements OlmBackend {
  readonly stateDir: string;
  readonly #store: StateStore;
  readonly #privateKey: Uint8Array;
  readonly #sessions: SessionFactory;
  readonly #log: Logger;
  readonly #exitDelayMs: number;
  readonly #listeners = new Set<RegisteredListener>();
  #session: Session | undefined;
  /** The last stop in flight: a new session waits for it (same interface name). */
  #stopped: Promise<void> = Promise.resolve();
  #exitTimer: ReturnType<typeof setTimeout> | undefined;
  #exitRequested = false;
  /** Reconnects of the sessions before the current one (for metrics). */
  #pastReconnects = 0;
  readonly #exit = Promise.withResolvers<void>();

  private constructor(options: AgentOptions, privateKey: Uint8Array) {
    this.stateDir = options.store.dir;
    this.#store = options.store;
    this.#privateKey = privateKey;
    this.#sessions = options.sessions;
    this.#log = options.log ?? rootLog;
    this.#exitDelayMs = options.exitDelayMs ?? 100;
  }

  /** Loads (or creates) the agent's WireGuard identity from the state directory. */
  static async create(options: AgentOptions): Promise<Agent> {
    const privateKey = await options.store.identity();
    return new Agent(options, privateKey);
  }

  /** The connection saved in the state directory, and whether it should be running. */
  savedConnection(): Promise<{ active: boolean; params: ConnectionParams } | undefined> {
    return this.#store.connection();
  }

  get isActive(): boolean {
    return this.#session?.active ?? false;
  }

  /**
   * Saves `params` and starts a session with them in the background.
   *
   * @throws {AgentStateError} when a session is already running (checked before any await,
   *   so of concurrent calls exactly one wins)
   */
  async connect(params: ConnectionParams): Promise<void> {
    if (this.isActive) {
      throw new AgentStateError(
        "Already connected to a server. Disconnect first before connecting again.",
      );
    }
    this.#log.addSecret(params.secret);
    this.#log.addSecret(params.userToken);
    const session = this.#sessions(params, this.#privateKey);
    this.#pastReconnects += this.#session?.reconnects ?? 0;
    for (const listener of this.#listeners) session.onRegistered(listener);
    this.#session = session;
    // The slot is claimed synchronously: a new session counts as active until stopped.
    try {
      await this.#stopped;
      await this.#saveOrRefuse(params);
    } catch (error) {
      await session.stop();
      throw error;
    }
    if (this.#session === session && session.active) session.start();
    session.done.then(async () => {
      if (session.terminated && this.#session === session) await this.#store.markInactive();
    });
  }

  /**
   * Stops the session and waits until the interface, its routes and the socket are gone.
   *
   * @throws {AgentStateError} when no session is running
   */
  async disconnect(): Promise<void> {
    if (!this.isActive) throw new AgentStateError("Not connected to any server");
    await this.#stop(true);
  }

  /**
   * Logs in again for `orgId` and rebuilds the session in that org.
   *
   * @throws {Error} when no session runs or the hub refuses the org
   */
  async switchOrg(orgId: string): Promise<void> {
    const session = this.#session;
    if (!session || !this.isActive) throw new Error("not connected");
    // The state first: a switch that cannot be saved must not happen (a restart would bring
    // the old org back while the API said the switch failed, or the other way round).
    const before = { ...session.params };
    await this.#saveOrRefuse({ ...before, orgId });
    try {
      await session.switchOrg(orgId);
    } catch (error) {
      await this.#store.saveConnection(before, true).catch((rollback) =>
        this.#log.error("cannot restore the saved connection", { error: String(rollback) })
      );
      throw error;
    }
  }

  /** Saves the connection, or refuses with a message that names no path. */
  async #saveOrRefuse(params: ConnectionParams): Promise<void> {
    try {
      await this.#store.saveConnection(params, true);
    } catch (error) {
      this.#log.error("cannot save the connection", { error: String(error) });
      throw new DomainError("internal", "cannot save the connection in the state directory");
    }
  }

  /**
   * Resolves with the error once the session running now ends terminated (the hub refused the
   * credentials or ended it, or the device failed); with undefined when it is stopped instead
   * or none runs.
   */
  async whenTerminated(): Promise<{ code: string; message: string } | undefined> {
    const session = this.#session;
    if (!session) return undefined;
    await session.done;
    return session.terminated ? session.status().error : undefined;
  }

  /** The live status; with no session: all false, no peers, empty addresses. */
  status(): AgentStatus {
    const s = this.#session?.status();
    const status: AgentStatus = {
      connected: s?.connected ?? false,
      registered: s?.registered ?? false,
      terminated: s?.terminated ?? false,
      version: VERSION,
      agent: AGENT_NAME,
      orgId: s?.orgId ?? "",
      peers: s?.peers ?? {},
      networkSettings: { ...s?.networkSettings, tunnelIP: s?.tunnelIP ?? "" },
    };
    if (s?.error) status.error = s.error;
    return status;
  }

  // ---- for the Packetriot routes and the rules engine ----

  /**
   * Starts a session with the last saved parameters; does nothing when one runs.
   *
   * @throws {AgentStateError} when nothing was ever saved
   */
  async startTunnel(): Promise<void> {
    if (this.isActive) return;
    const saved = await this.#store.connection();
    if (!saved) throw new AgentStateError("No connection configured: POST /connect first");
    try {
      await this.connect(saved.params);
    } catch (error) {
      // Another caller started one meanwhile: that is what was asked for.
      if (!(error instanceof AgentStateError)) throw error;
    }
  }

  /** Stops the session if one runs, marking the saved connection inactive. */
  async stopTunnel(): Promise<void> {
    if (this.isActive) await this.#stop(true);
  }

  async restartTunnel(): Promise<void> {
    await this.stopTunnel();
    await this.startTunnel();
  }

  /**
   * Sends a burrow extension request on the current session.
   *
   * @throws {SessionRequestError} `not_connected` without a registered session, `timeout`, or
   *   the hub's error code
   */
  request(type: string, data: Record<string, unknown> = {}, timeoutMs?: number): Promise<Frame> {
    const session = this.#session;
    if (!session) {
      return Promise.reject(new SessionRequestError("not_connected", "not connected to the hub"));
    }
    return session.request(type, data, timeoutMs);
  }

  /**
   * The session in the shape the Packetriot routes drive (src/api/backend.ts's
   * `PacketriotTunnel`): connected means registered with the hub; start() answers whether a
   * session existed already.
   */
  packetriotSession(): PacketriotTunnel {
    return {
      isConnected: () => this.#session?.registered ?? false,
      start: async () => {
        const existed = this.isActive;
        await this.startTunnel();
        return existed;
      },
      shutdown: () => this.stopTunnel(),
      restart: () => this.restartTunnel(),
    };
  }

  /** Reconnects of every session this agent ran (a counter: it never goes down). */
  get reconnects(): number {
    return this.#pastReconnects + (this.#session?.reconnects ?? 0);
  }

  /** Byte counts and handshakes of the current session's peers (none without a tunnel). */
  tunnelStats(): Promise<TunnelPeerStats[]> {
    return this.#session?.tunnelStats() ?? Promise.resolve([]);
  }

  /** The tunnel address without prefix, once registered. */
  tunnelAddress(): string | undefined {
    const cidr = this.#session?.tunnelIP;
    return cidr ? cidr.split("/")[0] : undefined;
  }

  /**
   * The hub's tunnel address (the `serverIP` of its site, matched by the hub's key from the
   * login) as of the current session's last registration, or undefined.
   */
  hubAddress(): string | undefined {
    return this.#session?.hubAddress;
  }

  /** See the top of this file. @returns a function that removes the listener */
  onRegistered(listener: RegisteredListener): () => void {
    this.#listeners.add(listener);
    const removeFromSession = this.#session?.onRegistered(listener);
    return () => {
      this.#listeners.delete(listener);
      removeFromSession?.();
    };
  }

  // ---- process life ----

  /** Asks the process to shut down after the exit delay (so `/exit` is answered first). */
  requestExit(): void {
    if (this.#exitRequested) return;
    this.#exitRequested = true;
    this.#exitTimer = setTimeout(() => this.#exit.resolve(), this.#exitDelayMs);
  }

  /** Resolves when `/exit` (or a signal via requestExit) asked the process to end. */
  get exitRequested(): Promise<void> {
    return this.#exit.promise;
  }

  /**
   * Stops the session for a process shutdown. The saved connection stays active, so the next
   * start reconnects on its own.
   */
  async close(): Promise<void> {
    clearTimeout(this.#exitTimer);
    await this.#stop(false);
  }

  async #stop(markInactive: boolean): Promise<void> {
    const session = this.#session;
    const stop = (async () => {
      await this.#stopped;
      await session?.stop();
      if (markInactive) await this.#store.markInactive();
    })();
    this.#stopped = stop.catch(() => {});
    await stop;
  }
}
