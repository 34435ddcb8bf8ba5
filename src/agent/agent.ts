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
//   agent.onRegistered(listener)   called after every (re)registration of any session, once the
//                                  device is configured: the place to sync rules to the hub
//   agent.stateDir                 the state directory (rules keep their files there too)
//   agent.packetriotSession()      the four calls above in src/api/packetriot.ts's shape

import { log as rootLog, type Logger } from "../log/logger.ts";
import type { Frame } from "../protocol/control.ts";
import { AGENT_NAME, VERSION } from "../version.ts";
import type { PeerStatusJson } from "../session/peers.ts";
import {
  type RegisteredListener,
  Session,
  type SessionError,
  SessionRequestError,
  type SessionTiming,
} from "../session/session.ts";
import { type ConnectionParams, StateStore } from "../session/state.ts";
import { type TunnelFactory, wireguardTunnels } from "../session/tunnel.ts";
import { type NetworkSettings, PrivateResources } from "./private_resources.ts";
import { DnsOverride } from "./dns_override.ts";
import { resolverVia } from "./endpoint_resolver.ts";

/** `GET /status` (olm-api.txt), plus `error` when the hub refused or ended the session. */
export interface AgentStatus {
  connected: boolean;
  registered: boolean;
  terminated: boolean;
  version: string;
  agent: string;
  orgId: string;
  peers: Record<string, PeerStatusJson>;
  networkSettings: NetworkSettings;
  error?: SessionError;
}

/** Thrown by connect() while a session runs and by disconnect() while none does. */
export class AgentStateError extends Error {
  override name = "AgentStateError";
}

export interface AgentOptions {
  stateDir: string;
  tunnels?: TunnelFactory;
  log?: Logger;
  timing?: Partial<SessionTiming>;
  /** Delay between answering `/exit` and shutting down. @default 100 */
  exitDelayMs?: number;
}

export class Agent {
  readonly stateDir: string;
  readonly #store: StateStore;
  readonly #privateKey: Uint8Array;
  readonly #tunnels: TunnelFactory;
  readonly #log: Logger;
  readonly #timing: Partial<SessionTiming> | undefined;
  readonly #exitDelayMs: number;
  readonly #listeners = new Set<RegisteredListener>();
  #session: Session | undefined;
  /** The DNS proxy and site role of the current session. */
  #resources: PrivateResources | undefined;
  /** The last stop in flight: a new session waits for it (same interface name). */
  #stopped: Promise<void> = Promise.resolve();
  #exitTimer: ReturnType<typeof setTimeout> | undefined;
  #exitRequested = false;
  readonly #exit = Promise.withResolvers<void>();

  private constructor(options: AgentOptions, store: StateStore, privateKey: Uint8Array) {
    this.stateDir = options.stateDir;
    this.#store = store;
    this.#privateKey = privateKey;
    this.#tunnels = options.tunnels ?? wireguardTunnels;
    this.#log = options.log ?? rootLog;
    this.#timing = options.timing;
    this.#exitDelayMs = options.exitDelayMs ?? 100;
  }

  /** Opens the state directory and loads (or creates) the agent's WireGuard identity. */
  static async create(options: AgentOptions): Promise<Agent> {
    const store = new StateStore(options.stateDir);
    const privateKey = await store.identity();
    // A crash while --override-dns was in force left the host's resolver pointing at a proxy
    // that is gone: put it back before anything else.
    await new DnsOverride({ stateDir: options.stateDir }).repair().catch((error) =>
      (options.log ?? rootLog).warn("cannot restore the host's resolver", { error: String(error) })
    );
    return new Agent(options, store, privateKey);
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
    const resolveHost = params.dns ? resolverVia(params.dns) : undefined;
    const resources = new PrivateResources({
      params,
      stateDir: this.stateDir,
      log: this.#log,
      resolveHost,
    });
    const session = new Session({
      params,
      privateKey: this.#privateKey,
      tunnels: this.#tunnels,
      log: this.#log,
      timing: this.#timing,
      extensions: [resources],
      resolveHost,
    });
    this.#resources = resources;
    for (const listener of this.#listeners) session.onRegistered(listener);
    this.#session = session;
    // The slot is claimed synchronously: a new session counts as active until stopped.
    try {
      await this.#stopped;
      await this.#store.saveConnection(params, true);
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
    await session.switchOrg(orgId);
    await this.#store.saveConnection({ ...session.params, orgId }, true);
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
      networkSettings: this.#resources?.networkSettings(s?.tunnelIP ?? "") ??
        { tunnelIP: s?.tunnelIP ?? "" },
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
   * The session in the shape src/api/packetriot.ts drives (`PacketriotSession`): connected
   * means registered with the hub; start() answers whether a session existed already.
   */
  packetriotSession(): {
    isConnected(): boolean;
    start(): Promise<boolean>;
    shutdown(): Promise<void>;
    restart(): Promise<void>;
  } {
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

  /** The tunnel address without prefix, once registered. */
  tunnelAddress(): string | undefined {
    const cidr = this.#session?.tunnelIP;
    return cidr ? cidr.split("/")[0] : undefined;
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
