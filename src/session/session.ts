// The agent's session with its hub (PROTOCOL.md sections 1-3): log in, keep one WebSocket,
// register, bring the WireGuard device and its peers in line with what the hub says, measure
// each peer with the in-tunnel probe, reconnect on any drop, and carry burrow's request/answer
// extension messages. Pure pieces live beside it (peers.ts, messages.ts, backoff.ts, probe.ts).
//
// Life of a session: start() runs the connect loop in the background:
//   1. log in (401/403: terminated, the loop ends; other failures: back off and retry)
//   2. open the WebSocket; `connected` while it is open
//   3. send olm/wg/register every 2 s until olm/wg/connect arrives (then `registered`)
//   4. bring up the device, peers and routes; start probes; fire the registered hooks
//   5. ping every 30 s; a missed pong or a close goes back to 1 after a jittered backoff
// stop() sends olm/disconnecting, closes the socket, the device and the probes.

import { lookup } from "node:dns/promises";
import { type Frame, MSG, type RegisterMessage, WS_PATH } from "../protocol/control.ts";
import { cidrContains, parseCidr, parseHostPort, parseIp } from "../net/ip.ts";
import { log as rootLog, type Logger } from "../log/logger.ts";
import { AGENT_NAME, VERSION } from "../version.ts";
import { keyFromBase64, keyToBase64, publicKeyOf } from "../tun/keys.ts";
import { backoffDelayMs } from "./backoff.ts";
import { login, LoginRefused, webSocketUrl } from "./login.ts";
import {
  connectSchema,
  decodeFrame,
  errorSchema,
  peerRemoveSchema,
  peerUpdateSchema,
  relaySchema,
  type Site,
  siteSchema,
  syncSchema,
  unrelaySchema,
} from "./messages.ts";
import { allowedIpsOf, type PeerStatusJson, PeerTable, relayEndpointOf } from "./peers.ts";
import { ProbeSocket } from "./probe.ts";
import type { ConnectionParams } from "./state.ts";
import type { Tunnel, TunnelFactory } from "./tunnel.ts";
import type { SessionExtension, TunnelView } from "./extensions.ts";

/** Timings of the control channel; tests shorten them. */
export interface SessionTiming {
  /** Interval of `olm/ping` on the WebSocket. @default 30_000 */
  wsPingIntervalMs: number;
  /** A ping without `pong` within this time means the socket is dead. @default 10_000 */
  wsPongTimeoutMs: number;
  /** @default 2_000 */
  registerRetryMs: number;
  /** @default 20 */
  registerAttempts: number;
  /** @default 1_000 */
  backoffBaseMs: number;
  /** @default 30_000 */
  backoffCapMs: number;
  /** Default wait for the answer of {@linkcode Session.request}. @default 10_000 */
  requestTimeoutMs: number;
}

export const DEFAULT_TIMING: SessionTiming = {
  wsPingIntervalMs: 30_000,
  wsPongTimeoutMs: 10_000,
  registerRetryMs: 2_000,
  registerAttempts: 20,
  backoffBaseMs: 1_000,
  backoffCapMs: 30_000,
  requestTimeoutMs: 10_000,
};

/** Persistent keepalive on every peer, so NATs between agent and hub stay open. */
const PERSISTENT_KEEPALIVE_S = 25;

export interface SessionError {
  code: string;
  message: string;
}

/** The session's part of `GET /status`. */
export interface SessionStatus {
  connected: boolean;
  registered: boolean;
  terminated: boolean;
  orgId: string;
  peers: Record<string, PeerStatusJson>;
  tunnelIP: string;
  error?: SessionError;
}

/** A burrow extension request that failed: `burrow/error`, a timeout or no connection. */
export class SessionRequestError extends Error {
  override name = "SessionRequestError";
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export interface RegisteredEvent {
  /** The tunnel address with its prefix, e.g. `100.89.128.3/20`. */
  tunnelIP: string;
  /** How many times this session registered, 1 for the first. */
  registrations: number;
}

export type RegisteredListener = (event: RegisteredEvent) => void | Promise<void>;

export interface SessionOptions {
  params: ConnectionParams;
  privateKey: Uint8Array;
  tunnels: TunnelFactory;
  log?: Logger;
  timing?: Partial<SessionTiming>;
  random?: () => number;
  /** Parts of the agent that follow the tunnel (DNS proxy, site role). */
  extensions?: SessionExtension[];
  /** Resolves peers' endpoint names (`dns` of /connect); the system resolver when absent. */
  resolveHost?: HostResolver;
}

/** A host name to one address, or null when it has none. */
export type HostResolver = (host: string) => Promise<string | null>;

type Timer = ReturnType<typeof setTimeout>;

interface Pending {
  resolve(frame: Frame): void;
  reject(error: Error): void;
  timer: Timer;
}

export class Session {
  readonly #params: ConnectionParams;
  readonly #privateKey: Uint8Array;
  readonly #publicKey: string;
  readonly #tunnels: TunnelFactory;
  readonly #log: Logger;
  readonly #timing: SessionTiming;
  readonly #random: () => number;
  readonly #extensions: SessionExtension[];
  readonly #resolveHost: HostResolver;

  #peers: PeerTable;
  #utilitySubnet = "";
  #ws: WebSocket | undefined;
  #connected = false;
  #registered = false;
  #terminated = false;
  #error: SessionError | undefined;
  #stopping = false;
  #loop: Promise<void> | undefined;
  #wakeSleep: (() => void) | undefined;
  #nextToken: string | undefined;
  #registrations = 0;
  #configVersion = 0;

  #tunnel: Tunnel | undefined;
  #tunnelIP = "";
  #routes = new Set<string>();
  #probe: ProbeSocket | undefined;
  #probeTimer: Timer | undefined;
  /** Device work happens one message at a time, in arrival order. */
  #queue: Promise<void> = Promise.resolve();
  readonly #pending = new Map<string, Pending>();
  readonly #listeners = new Set<RegisteredListener>();

  constructor(options: SessionOptions) {
    this.#params = { ...options.params };
    this.#privateKey = options.privateKey;
    this.#publicKey = keyToBase64(publicKeyOf(options.privateKey));
    this.#tunnels = options.tunnels;
    this.#log = (options.log ?? rootLog).with({ component: "session" });
    this.#log.addSecret(options.params.secret);
    this.#log.addSecret(options.params.userToken);
    this.#timing = { ...DEFAULT_TIMING, ...options.timing };
    this.#random = options.random ?? Math.random;
    this.#extensions = options.extensions ?? [];
    this.#resolveHost = options.resolveHost ?? systemResolve;
    this.#peers = new PeerTable();
  }

  /** The parameters this session runs with (the secret included: never expose them). */
  get params(): Readonly<ConnectionParams> {
    return this.#params;
  }
  get connected(): boolean {
    return this.#connected;
  }
  get registered(): boolean {
    return this.#registered;
  }
  get terminated(): boolean {
    return this.#terminated;
  }
  /** Whether the session is running or about to (neither stopped nor terminated). */
  get active(): boolean {
    return !this.#stopping && !this.#terminated;
  }
  /** The tunnel address with prefix, "" before the first registration. */
  get tunnelIP(): string {
    return this.#tunnelIP;
  }
  /** Resolves when the connect loop has ended (stopped or terminated). */
  get done(): Promise<void> {
    return this.#loop ?? Promise.resolve();
  }

  /** Starts the connect loop in the background; a second call does nothing. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /**
   * Ends the session cleanly: `olm/disconnecting`, socket closed, device (interface and
   * routes) and probes torn down. Resolves only when all of that is done.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wakeSleep?.();
    const ws = this.#ws;
    if (ws && ws.readyState === WebSocket.OPEN) {
      this.#send({ type: MSG.disconnecting, data: {} });
      ws.close(1000, "disconnecting");
    } else if (ws && ws.readyState === WebSocket.CONNECTING) {
      ws.close();
    }
    await this.#loop;
    await this.#teardown();
  }

  /**
   * Logs in for `orgId` and, when the hub accepts, rebuilds the session in that org: the socket
   * is reopened with the new token and the agent registers again.
   *
   * @throws {Error} when the session is not running or the login fails (the old org stays)
   */
  async switchOrg(orgId: string): Promise<void> {
    if (!this.active) throw new Error("not connected");
    const result = await login(this.#params.endpoint, this.#loginRequest(orgId));
    if (!this.active) throw new Error("the session ended during the switch");
    this.#params.orgId = orgId;
    this.#nextToken = result.token;
    this.#log.info("switching organization", { orgId });
    // Closing the socket makes the loop log in (with the new token) and register again.
    this.#ws?.close(1000, "switching organization");
    this.#wakeSleep?.();
  }

  /** The session's fields of `GET /status`, live. */
  status(nowMs = Date.now()): SessionStatus {
    const status: SessionStatus = {
      connected: this.#connected,
      registered: this.#registered,
      terminated: this.#terminated,
      orgId: this.#params.orgId ?? "",
      peers: this.#peers.toStatus(nowMs, this.#params.pingTimeoutMs),
      tunnelIP: this.#tunnelIP,
    };
    if (this.#error) status.error = { ...this.#error };
    return status;
  }

  /**
   * Sends a burrow extension message with a fresh `requestId` and waits for the answer that
   * echoes it.
   *
   * @returns the answering frame (its `data` carries the `requestId`)
   * @throws {SessionRequestError} `not_connected`, `timeout`, or the hub's `burrow/error` code
   */
  request(
    type: string,
    data: Record<string, unknown> = {},
    timeoutMs = this.#timing.requestTimeoutMs,
  ): Promise<Frame> {
    if (!this.#registered || this.#ws?.readyState !== WebSocket.OPEN) {
      return Promise.reject(new SessionRequestError("not_connected", "not connected to the hub"));
    }
    const requestId = crypto.randomUUID();
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        reject(new SessionRequestError("timeout", `no answer to ${type} from the hub`));
      }, timeoutMs);
      this.#pending.set(requestId, { resolve, reject, timer });
      this.#send({ type, data: { ...data, requestId } });
    });
  }

  /**
   * Calls `listener` after every registration (the first and each after a reconnect), once the
   * device is configured, so rules can be announced again.
   *
   * @returns a function that removes the listener
   */
  onRegistered(listener: RegisteredListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // ---- the connect loop ----

  async #run(): Promise<void> {
    let attempt = 0;
    while (!this.#stopping && !this.#terminated) {
      let registered = false;
      try {
        const token = this.#nextToken ?? (await this.#login()).token;
        this.#nextToken = undefined;
        if (this.#stopping) break;
        registered = await this.#runSocket(token);
      } catch (error) {
        if (error instanceof LoginRefused) {
          await this.#terminate({
            code: error.status === 401 ? "unauthorized" : "forbidden",
            message: error.message,
          });
          break;
        }
        this.#log.warn("hub unreachable", { error: errorText(error) });
      }
      if (this.#stopping || this.#terminated) break;
      if (registered) attempt = 0;
      if (this.#nextToken) continue; // an org switch: reconnect at once
      const delay = backoffDelayMs(
        attempt++,
        this.#random,
        this.#timing.backoffBaseMs,
        this.#timing.backoffCapMs,
      );
      this.#log.info("reconnecting", { inMs: delay, attempt });
      await this.#sleep(delay);
    }
  }

  #loginRequest(orgId = this.#params.orgId) {
    return {
      olmId: this.#params.id,
      secret: this.#params.secret,
      ...(this.#params.userToken ? { userToken: this.#params.userToken } : {}),
      ...(orgId ? { orgId } : {}),
    };
  }

  #login() {
    return login(this.#params.endpoint, this.#loginRequest());
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wakeSleep = done;
    }).finally(() => this.#wakeSleep = undefined);
  }

  /** One WebSocket's life; resolves when it closes, true if it got registered. */
  #runSocket(token: string): Promise<boolean> {
    const url = webSocketUrl(this.#params.endpoint, WS_PATH, token);
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    this.#ws = ws;
    let registeredHere = false;
    let registerTimer: Timer | undefined;
    let pingTimer: Timer | undefined;
    let pongTimer: Timer | undefined;
    const chainId = crypto.randomUUID();

    const sendRegister = (attempt: number) => {
      if (this.#registered || ws.readyState !== WebSocket.OPEN) return;
      if (attempt >= this.#timing.registerAttempts) {
        this.#log.warn("hub never answered the registration; reconnecting");
        ws.close(1000, "registration timed out");
        return;
      }
      const register: RegisterMessage = {
        publicKey: this.#publicKey,
        relay: !this.#params.holepunch,
        olmVersion: VERSION,
        olmAgent: AGENT_NAME,
        orgId: this.#params.orgId ?? "",
        chainId,
        ...(this.#params.userToken ? { userToken: this.#params.userToken } : {}),
      };
      this.#send({ type: MSG.register, data: register });
      registerTimer = setTimeout(() => sendRegister(attempt + 1), this.#timing.registerRetryMs);
    };

    return new Promise<boolean>((resolve) => {
      ws.onopen = () => {
        if (this.#stopping) return ws.close(1000, "disconnecting");
        this.#connected = true;
        this.#log.info("connected to the hub", { endpoint: this.#params.endpoint });
        sendRegister(0);
        pingTimer = setInterval(() => {
          this.#send({
            type: MSG.ping,
            data: { timestamp: Date.now() },
            configVersion: this.#configVersion,
          });
          if (pongTimer === undefined) {
            pongTimer = setTimeout(() => {
              this.#log.warn("no pong from the hub; reconnecting");
              ws.close(1000, "pong timeout");
            }, this.#timing.wsPongTimeoutMs);
          }
        }, this.#timing.wsPingIntervalMs);
      };
      ws.onmessage = async (event) => {
        const frame = await decodeFrame(event.data);
        if (!frame) return this.#log.debug("ignored a malformed frame from the hub");
        if (typeof frame.configVersion === "number") this.#configVersion = frame.configVersion;
        if (frame.type === MSG.pong) {
          clearTimeout(pongTimer);
          pongTimer = undefined;
          return;
        }
        if (this.#answerRequest(frame)) return;
        this.#enqueue(async () => {
          if (this.#ws !== ws) return;
          const registeredNow = await this.#handle(frame, chainId);
          if (registeredNow) {
            registeredHere = true;
            clearTimeout(registerTimer);
          }
        });
      };
      ws.onerror = () => {/* a close event follows and says what matters */};
      ws.onclose = (event) => {
        clearTimeout(registerTimer);
        clearInterval(pingTimer);
        clearTimeout(pongTimer);
        const wasConnected = this.#connected;
        this.#connected = false;
        this.#registered = false;
        if (this.#ws === ws) this.#ws = undefined;
        for (const [id, pending] of this.#pending) {
          clearTimeout(pending.timer);
          pending.reject(new SessionRequestError("not_connected", "the hub connection closed"));
          this.#pending.delete(id);
        }
        if (wasConnected && !this.#stopping) {
          this.#log.warn("hub connection closed", { code: event.code, reason: event.reason });
        }
        // Let queued message work finish before the loop moves on.
        this.#queue.then(() => resolve(registeredHere));
      };
    });
  }

  #send(frame: Frame): void {
    const ws = this.#ws;
    if (ws?.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify(frame));
  }

  #enqueue(work: () => Promise<void>): void {
    this.#queue = this.#queue.then(work).catch((error) => {
      this.#log.error("handling a hub message failed", { error: errorText(error) });
    });
  }

  /** Resolves a pending burrow request; true when the frame was its answer. */
  #answerRequest(frame: Frame): boolean {
    const data = frame.data as { requestId?: unknown } | null;
    const requestId = data && typeof data === "object" ? data.requestId : undefined;
    if (typeof requestId !== "string" && typeof requestId !== "number") return false;
    const pending = this.#pending.get(String(requestId));
    if (!pending) return false;
    this.#pending.delete(String(requestId));
    clearTimeout(pending.timer);
    if (frame.type === MSG.burrowError) {
      const error = errorSchema.safeParse(frame.data);
      pending.reject(
        new SessionRequestError(
          error.success ? error.data.code : "error",
          error.success ? error.data.message : "the hub refused the request",
        ),
      );
    } else {
      pending.resolve(frame);
    }
    return true;
  }

  // ---- hub messages ----

  /** Acts on one server message; true when it completed a registration. */
  async #handle(frame: Frame, chainId: string): Promise<boolean> {
    switch (frame.type) {
      case MSG.connect: {
        const parsed = connectSchema.safeParse(frame.data);
        if (!parsed.success) return this.#reject(frame.type), false;
        if (parsed.data.chainId && parsed.data.chainId !== chainId) return false;
        this.#utilitySubnet = parsed.data.utilitySubnet ?? "";
        return await this.#applyConnect(parsed.data.tunnelIP, parsed.data.sites);
      }
      case MSG.peerAdd: {
        const parsed = siteSchema.safeParse(frame.data);
        if (!parsed.success) return this.#reject(frame.type), false;
        this.#peers.upsert(parsed.data);
        await this.#installPeer(parsed.data);
        await this.#peersChanged();
        return false;
      }
      case MSG.peerRemove: {
        const parsed = peerRemoveSchema.safeParse(frame.data);
        if (!parsed.success) return this.#reject(frame.type), false;
        const site = this.#peers.remove(parsed.data.siteId);
        if (site) await this.#uninstallPeer(site);
        await this.#peersChanged();
        return false;
      }
      case MSG.peerUpdate: {
        const parsed = peerUpdateSchema.safeParse(frame.data);
        if (!parsed.success) return this.#reject(frame.type), false;
        const before = this.#peers.get(parsed.data.siteId);
        const merged = this.#peers.update(parsed.data as Partial<Site> & { siteId: number });
        if (!before || !merged) return false;
        if (before.publicKey !== merged.publicKey) await this.#uninstallPeer(before);
        await this.#installPeer(merged);
        await this.#peersChanged();
        return false;
      }
      case MSG.peerRelay: {
        const parsed = relaySchema.safeParse(frame.data);
        if (!parsed.success) return this.#reject(frame.type), false;
        const endpoint = relayEndpointOf(parsed.data.relayEndpoint, parsed.data.relayPort);
        if (this.#peers.setRoute(parsed.data.siteId, endpoint, true)) {
          await this.#installPeer(this.#peers.get(parsed.data.siteId)!);
        }
        return false;
      }
      case MSG.peerUnrelay: {
        const parsed = unrelaySchema.safeParse(frame.data);
        if (!parsed.success) return this.#reject(frame.type), false;
        if (this.#peers.setRoute(parsed.data.siteId, parsed.data.endpoint, false)) {
          await this.#installPeer(this.#peers.get(parsed.data.siteId)!);
        }
        return false;
      }
      case MSG.sync: {
        const parsed = syncSchema.safeParse(frame.data);
        if (!parsed.success) return this.#reject(frame.type), false;
        await this.#syncPeers(parsed.data.sites);
        await this.#peersChanged();
        return false;
      }
      case MSG.error: {
        const parsed = errorSchema.safeParse(frame.data);
        this.#log.warn("the hub reported an error", parsed.success ? parsed.data : {});
        return false;
      }
      case MSG.serverError:
        this.#log.debug("the hub did not understand a message", { data: frame.data });
        return false;
      case MSG.terminate: {
        const parsed = errorSchema.safeParse(frame.data ?? {});
        await this.#terminate(
          parsed.success
            ? { code: parsed.data.code, message: parsed.data.message || "terminated by the hub" }
            : { code: "terminated", message: "terminated by the hub" },
        );
        return false;
      }
      default: {
        const view = this.#tunnelView();
        for (const extension of this.#extensions) {
          if (view && await extension.handle?.(frame, view)) return false;
        }
        this.#log.debug("ignored a message of unknown type", { type: frame.type });
        return false;
      }
    }
  }

  #reject(type: string): void {
    this.#log.warn("ignored a malformed message from the hub", { type });
  }

  async #applyConnect(tunnelIP: string, sites: Site[]): Promise<boolean> {
    if (!parseCidr(tunnelIP) || !tunnelIP.includes("/")) {
      this.#log.warn("the hub sent an invalid tunnel address", { tunnelIP });
      return false;
    }
    if (this.#tunnel && this.#tunnelIP !== tunnelIP) await this.#closeTunnel();
    if (!this.#tunnel) {
      try {
        await this.#openTunnel(tunnelIP);
      } catch (error) {
        await this.#terminate({ code: "tunnel_failed", message: errorText(error) });
        return false;
      }
    }
    await this.#syncPeers(sites);
    await this.#peersChanged();
    await this.#startProbes();
    this.#registered = true;
    this.#registrations++;
    this.#log.info("registered with the hub", { tunnelIP, sites: sites.length });
    const event: RegisteredEvent = { tunnelIP, registrations: this.#registrations };
    for (const listener of this.#listeners) {
      // Not awaited: a listener that sends requests needs this queue free for the answers.
      Promise.resolve().then(() => listener(event)).catch((error) =>
        this.#log.error("a registration hook failed", { error: errorText(error) })
      );
    }
    return true;
  }

  async #openTunnel(tunnelIP: string): Promise<void> {
    const tunnel = await this.#tunnels({
      name: this.#params.interfaceName,
      mtu: this.#params.mtu,
      privateKey: this.#privateKey,
    });
    this.#tunnel = tunnel;
    this.#tunnelIP = tunnelIP;
    this.#routes = new Set();
    this.#peers = new PeerTable();
    await tunnel.addAddress(tunnelIP);
    tunnel.closed.then(() => {
      if (this.#tunnel !== tunnel) return;
      this.#log.warn("the tunnel interface disappeared; reconnecting to rebuild it");
      this.#tunnel = undefined;
      this.#ws?.close(1000, "tunnel lost");
    });
    this.#log.info("tunnel up", { interface: tunnel.name, tunnelIP });
  }

  async #syncPeers(sites: Site[]): Promise<void> {
    const wanted = new Set(sites.map((s) => s.siteId));
    for (const site of this.#peers.sites()) {
      if (!wanted.has(site.siteId)) {
        this.#peers.remove(site.siteId);
        await this.#uninstallPeer(site);
      }
    }
    for (const site of sites) {
      const old = this.#peers.get(site.siteId);
      if (old && old.publicKey !== site.publicKey) await this.#uninstallPeer(old);
      this.#peers.upsert(site);
      await this.#installPeer(site);
    }
  }

  #tunnelView(): TunnelView | null {
    if (!this.#tunnel) return null;
    return {
      tunnel: this.#tunnel,
      interfaceName: this.#tunnel.name,
      tunnelIP: this.#tunnelIP,
      utilitySubnet: this.#utilitySubnet,
      sites: this.#peers.sites(),
    };
  }

  /** Tells the extensions; one that fails is logged and does not stop the others. */
  async #peersChanged(): Promise<void> {
    const view = this.#tunnelView();
    if (!view) return;
    for (const extension of this.#extensions) {
      await extension.peersChanged?.(view).catch((error) =>
        this.#log.warn("could not follow the peers", { error: errorText(error) })
      );
    }
  }

  async #installPeer(site: Site): Promise<void> {
    const tunnel = this.#tunnel;
    if (!tunnel) return;
    const publicKey = keyFromBase64(site.publicKey);
    if (!publicKey) return this.#log.warn("ignored a site with a bad key", { siteId: site.siteId });
    const endpoint = await resolveEndpoint(
      this.#peers.endpointOf(site.siteId) ?? site.endpoint,
      this.#resolveHost,
    );
    const allowedIps = allowedIpsOf(site);
    await tunnel.setPeer({
      publicKey,
      ...(endpoint ? { endpoint } : {}),
      allowedIps,
      persistentKeepaliveS: PERSISTENT_KEEPALIVE_S,
    });
    for (const cidr of allowedIps) {
      if (this.#routes.has(cidr) || this.#insideTunnelNetwork(cidr)) continue;
      this.#routes.add(cidr);
      await tunnel.addRoute(cidr).catch((error) =>
        this.#log.warn("could not add a route", { cidr, error: errorText(error) })
      );
    }
  }

  async #uninstallPeer(site: Site): Promise<void> {
    const publicKey = keyFromBase64(site.publicKey);
    if (this.#tunnel && publicKey) await this.#tunnel.removePeer(publicKey);
  }

  #insideTunnelNetwork(cidr: string): boolean {
    const network = parseCidr(this.#tunnelIP);
    const inner = parseCidr(cidr);
    if (!network || !inner || network.bytes.length !== inner.bytes.length) return false;
    return inner.bits >= network.bits && cidrContains(network, inner.bytes);
  }

  // ---- peer health ----

  async #startProbes(): Promise<void> {
    if (this.#probe) return;
    this.#probe = await ProbeSocket.open((address, port, rttNs) => {
      this.#peers.recordReply(address, port, rttNs, Date.now());
    });
    const round = () => {
      for (const target of this.#peers.probeTargets()) {
        this.#probe?.send(target.address, target.port);
      }
    };
    round();
    this.#probeTimer = setInterval(round, this.#params.pingIntervalMs);
  }

  // ---- endings ----

  async #terminate(error: SessionError): Promise<void> {
    if (this.#terminated) return;
    this.#terminated = true;
    this.#error = error;
    this.#log.error("the hub ended the session", { code: error.code, message: error.message });
    this.#wakeSleep?.();
    this.#ws?.close(1000, "terminated");
    await this.#teardown();
  }

  /** Closes probes, the device (interface and its routes) and rejects pending requests. */
  async #teardown(): Promise<void> {
    clearInterval(this.#probeTimer);
    this.#probeTimer = undefined;
    const probe = this.#probe;
    this.#probe = undefined;
    await probe?.close();
    await this.#closeTunnel();
    this.#registered = false;
  }

  async #closeTunnel(): Promise<void> {
    const tunnel = this.#tunnel;
    this.#tunnel = undefined;
    this.#routes = new Set();
    if (tunnel) {
      for (const extension of this.#extensions) {
        await extension.tunnelClosing?.().catch((error) =>
          this.#log.warn("could not wind down with the tunnel", { error: errorText(error) })
        );
      }
      await tunnel.close();
      this.#log.info("tunnel down", { interface: tunnel.name });
    }
  }
}

/** `host:port` with the host resolved to an address (again on every call); null if it cannot be. */
async function resolveEndpoint(endpoint: string, resolve: HostResolver): Promise<string | null> {
  const parsed = parseHostPort(endpoint);
  if (!parsed) return null;
  if (parseIp(parsed.host)) return endpoint;
  const address = await resolve(parsed.host).catch(() => null);
  if (!address) return null;
  return address.includes(":") ? `[${address}]:${parsed.port}` : `${address}:${parsed.port}`;
}

/** The system resolver (getaddrinfo). */
async function systemResolve(host: string): Promise<string | null> {
  try {
    return (await lookup(host)).address;
  } catch {
    return null;
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
