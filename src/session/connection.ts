// The agent's session with its hub (PROTOCOL.md sections 1-3), its connection half: log in,
// keep one WebSocket, register, reconnect on any drop with a jittered backoff. Its other jobs
// live beside it: request/answer matching (hub_requests.ts), the hub's messages
// (dispatch.ts), the device and its peers brought to the wanted state (reconciliation.ts);
// pure pieces in peers.ts, hub_messages.ts, backoff.ts, peer_probe.ts.
//
// Life of a session: start() runs the connect loop in the background:
//   1. log in (401/403: terminated, the loop ends; other failures: back off and retry)
//   2. open the WebSocket; `connected` while it is open
//   3. send olm/wg/register every 2 s until olm/wg/connect arrives (then `registered`)
//   4. bring up the device, peers and routes; start probes; fire the registered hooks
//   5. ping every 30 s; a missed pong or a close goes back to 1 after a jittered backoff
// stop() sends olm/disconnecting, closes the socket, the device and the probes.

import { type Frame, MSG, type RegisterMessage, WS_PATH } from "../protocol/mod.ts";
import { parseCidr } from "../net/mod.ts";
import { log as rootLog, type Logger } from "../log/mod.ts";
import { AGENT_NAME, VERSION } from "../version.ts";
import { keyToBase64, publicKeyOf } from "../curve25519/mod.ts";
import { backoffDelayMs } from "./backoff.ts";
import { type DispatchContext, dispatchHubMessage } from "./dispatch.ts";
import { errorText } from "./error_text.ts";
import { describeHubFailure } from "./hub_failure.ts";
import { HubRequests, SessionRequestError } from "./hub_requests.ts";
import { login, LoginRefused, webSocketUrl } from "./login.ts";
import { type HubRoute, openHubRoute } from "./hub_route.ts";
import {
  hasHubTls,
  hubHttpClient,
  HubTlsFileError,
  type HubTlsMaterial,
  loadHubTls,
  tlsFailureOf,
} from "./hub_tls.ts";
import { decodeFrame, type Site } from "./hub_messages.ts";
import { hubSiteAddress, type PeerStatusJson } from "./peers.ts";
import { DeviceReconciler, type HostResolver } from "./reconciliation.ts";
import type { SessionExtension } from "./extensions.ts";
import type { ConnectionParams } from "./state.ts";
import type { TunnelFactory, TunnelPeerStats } from "./tunnel.ts";

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
  /**
   * Cap of the backoff while the hub is not reached at all (refused, DNS, no route, timeout):
   * such attempts cost the hub nothing, and a lower cap brings the agent back within seconds
   * of the hub listening again. @default 5_000
   */
  backoffUnreachedCapMs: number;
  /**
   * A registered socket that stayed open this long resets the backoff; one that closes
   * sooner (the hub refused a frame, a crash loop) keeps backing off. @default 60_000
   */
  stableAfterMs: number;
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
  backoffUnreachedCapMs: 5_000,
  stableAfterMs: 60_000,
  requestTimeoutMs: 10_000,
};

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
  /** What extensions add to `networkSettings` (the DNS proxy, newt's snake_case fields). */
  networkSettings: Record<string, unknown>;
  error?: SessionError;
}

export interface RegisteredEvent {
  /** The tunnel address with its prefix, e.g. `100.89.128.3/20`. */
  tunnelIP: string;
  /** How many times this session registered, 1 for the first. */
  registrations: number;
  /**
   * The hub's tunnel address (no prefix) from this registration, undefined when no site of it
   * is the hub's: see `hubSiteAddress` in src/session/peers.ts.
   */
  hubAddress: string | undefined;
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
  /**
   * Resolves the hub's name (login and WebSocket) and peers' endpoint names (`dns` of
   * /connect); the system resolver when absent.
   */
  resolveHost?: HostResolver;
  /** PEM file of a private CA the hub's certificate chains to (`--hub-ca`). */
  hubCaFile?: string;
}

type Timer = ReturnType<typeof setTimeout>;

/** How long one login may take before it counts as a timeout. */
const LOGIN_TIMEOUT_MS = 15_000;

export class Session {
  readonly #params: ConnectionParams;
  readonly #privateKey: Uint8Array;
  readonly #publicKey: string;
  readonly #log: Logger;
  readonly #timing: SessionTiming;
  readonly #random: () => number;
  readonly #device: DeviceReconciler;
  readonly #requests = new HubRequests();
  /** What the hub's messages act on (src/session/dispatch.ts). */
  readonly #dispatch: DispatchContext;

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
  #hubAddress: string | undefined;
  #reconnects = 0;
  readonly #hubCaFile: string | undefined;
  readonly #resolveHost: HostResolver | undefined;
  /** The CA and client certificate, read again before every login. */
  #tls: HubTlsMaterial = {};
  #configVersion = 0;

  /** Device work happens one message at a time, in arrival order. */
  #queue: Promise<void> = Promise.resolve();
  readonly #listeners = new Set<RegisteredListener>();

  constructor(options: SessionOptions) {
    this.#params = { ...options.params };
    this.#privateKey = options.privateKey;
    this.#publicKey = keyToBase64(publicKeyOf(options.privateKey));
    this.#log = (options.log ?? rootLog).with({ component: "session" });
    this.#log.addSecret(options.params.secret);
    this.#log.addSecret(options.params.userToken);
    this.#timing = { ...DEFAULT_TIMING, ...options.timing };
    this.#random = options.random ?? Math.random;
    this.#hubCaFile = options.hubCaFile;
    this.#resolveHost = options.resolveHost;
    this.#device = new DeviceReconciler({
      params: this.#params,
      privateKey: this.#privateKey,
      tunnels: options.tunnels,
      log: this.#log,
      extensions: options.extensions,
      resolveHost: options.resolveHost,
      notifyHub: (frame) => this.#send(frame),
    });
    this.#dispatch = {
      device: this.#device,
      log: this.#log,
      register: (tunnelIP, sites) => this.#applyConnect(tunnelIP, sites),
      terminate: (error) => this.#terminate(error),
    };
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
    return this.#device.tunnelIP;
  }
  /**
   * The hub's tunnel address as of the last registration: the `serverIP` of the site whose key
   * is the exit node's from the login (never merely the first peer: other agents are peers
   * too). Undefined before the first registration or when no site is the hub's.
   */
  get hubAddress(): string | undefined {
    return this.#hubAddress;
  }
  /** How many times the connect loop went back to log in after a drop or a failure. */
  get reconnects(): number {
    return this.#reconnects;
  }

  /** Byte counts and handshakes of the tunnel's peers, for metrics. */
  tunnelStats(): Promise<TunnelPeerStats[]> {
    return this.#device.tunnelStats();
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
    let route: HubRoute | undefined;
    const result = await this.#openRoute().then((opened) => {
      route = opened;
      return login(
        this.#params.endpoint,
        this.#loginRequest(orgId),
        LOGIN_TIMEOUT_MS,
        { tls: this.#tls, proxy: opened.proxy },
      );
    }).catch((error) => {
      if (error instanceof LoginRefused) throw error;
      throw new Error(describeHubFailure(error, this.#params.endpoint, LOGIN_TIMEOUT_MS).message);
    }).finally(() => route?.close());
    if (!this.active) throw new Error("the session ended during the switch");
    this.#params.orgId = orgId;
    this.#nextToken = result.token;
    this.#device.exitNode = result.exitNode ?? null;
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
      peers: this.#device.peers.toStatus(
        nowMs,
        this.#params.pingTimeoutMs,
        this.#device.hasTunnel,
      ),
      tunnelIP: this.#device.tunnelIP,
      networkSettings: this.#device.networkSettings(),
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
    return this.#requests.send(type, data, timeoutMs, (frame) => this.#send(frame));
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
      let registeredAt: number | undefined;
      let reached = true;
      // One resolution of the hub's name per attempt, for the login and the socket after it.
      let route: HubRoute | undefined;
      try {
        route = await this.#openRoute();
        let token = this.#nextToken;
        if (!token) {
          const result = await this.#login(route);
          token = result.token;
          this.#device.exitNode = result.exitNode ?? null;
        }
        this.#nextToken = undefined;
        if (this.#stopping) break;
        registeredAt = await this.#runSocket(token, route);
      } catch (error) {
        if (error instanceof LoginRefused) {
          await this.#terminate({
            code: error.status === 401 ? "unauthorized" : "forbidden",
            message: error.message,
          }, "the hub refused the credentials");
          break;
        }
        const failure = describeHubFailure(error, this.#params.endpoint, LOGIN_TIMEOUT_MS);
        reached = failure.reached;
        if (!this.#reportTls(error)) {
          this.#log.warn("hub unreachable", { error: failure.message });
        }
      } finally {
        route?.close();
      }
      if (this.#stopping || this.#terminated) break;
      // Only a socket that stayed up resets the pacing: one the hub closes right after the
      // registration (a refused frame, a crash loop) must not bring a login a second.
      if (registeredAt !== undefined && Date.now() - registeredAt >= this.#timing.stableAfterMs) {
        attempt = 0;
      }
      this.#reconnects++;
      if (this.#nextToken) continue; // an org switch: reconnect at once
      const delay = backoffDelayMs(
        attempt++,
        this.#random,
        this.#timing.backoffBaseMs,
        reached ? this.#timing.backoffCapMs : this.#timing.backoffUnreachedCapMs,
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

  async #login(route: HubRoute) {
    this.#tls = await loadHubTls({
      caFile: this.#hubCaFile,
      clientCertFile: this.#params.tlsClientCert,
    });
    return await login(this.#params.endpoint, this.#loginRequest(), LOGIN_TIMEOUT_MS, {
      tls: this.#tls,
      proxy: route.proxy,
    });
  }

  /** How this attempt reaches the hub: through `dns` when set (src/session/hub_route.ts). */
  #openRoute(): Promise<HubRoute> {
    return openHubRoute(this.#params.endpoint, this.#resolveHost, this.#params.dns);
  }

  /**
   * Reports a TLS problem with the hub (an unusable certificate file, a refused handshake) in
   * the status and the log, naming the files (never their contents). The loop keeps retrying:
   * a fixed file or hub is picked up at the next attempt.
   *
   * @returns whether `error` was one
   */
  #reportTls(error: unknown): boolean {
    const clientCert = this.#params.tlsClientCert ?? "none";
    const hubCa = this.#hubCaFile ?? "system roots";
    if (error instanceof HubTlsFileError) {
      this.#error = { code: "tls_file", message: error.message };
      this.#log.error("cannot read a TLS file for the hub", {
        file: error.path,
        error: error.message,
      });
      return true;
    }
    const reason = tlsFailureOf(error);
    if (reason === undefined) return false;
    const message = `TLS handshake with the hub failed: ${reason} ` +
      `(client certificate: ${clientCert}; hub CA: ${hubCa})`;
    this.#error = { code: "tls", message };
    this.#log.error("TLS handshake with the hub failed", { reason, clientCert, hubCa });
    return true;
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

  /** One WebSocket's life; resolves when it closes, with the time it registered (if it did). */
  #runSocket(token: string, route: HubRoute): Promise<number | undefined> {
    const url = webSocketUrl(this.#params.endpoint, WS_PATH, token);
    // The same CA, client certificate and route as the login (Deno's WebSocket takes an HTTP
    // client).
    const client = hasHubTls(this.#tls) || route.proxy
      ? hubHttpClient(this.#tls, route.proxy)
      : undefined;
    const ws = client ? new WebSocket(url, { client }) : new WebSocket(url);
    ws.binaryType = "arraybuffer";
    this.#ws = ws;
    let registeredAt: number | undefined;
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

    return new Promise<number | undefined>((resolve) => {
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
        if (this.#requests.answer(frame)) return;
        this.#enqueue(async () => {
          if (this.#ws !== ws) return;
          const registeredNow = await dispatchHubMessage(frame, chainId, this.#dispatch);
          if (registeredNow) {
            registeredAt = Date.now();
            clearTimeout(registerTimer);
          }
        });
      };
      ws.onerror = () => {/* a close event follows and says what matters */};
      ws.onclose = (event) => {
        clearTimeout(registerTimer);
        clearInterval(pingTimer);
        clearTimeout(pongTimer);
        client?.close();
        const wasConnected = this.#connected;
        this.#connected = false;
        this.#registered = false;
        if (this.#ws === ws) this.#ws = undefined;
        this.#requests.rejectAll("not_connected", "the hub connection closed");
        if (wasConnected && !this.#stopping) {
          this.#log.warn("hub connection closed", { code: event.code, reason: event.reason });
        }
        // Let queued message work finish before the loop moves on.
        this.#queue.then(() => resolve(registeredAt));
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

  // ---- registration (the hub's olm/wg/connect, through src/session/dispatch.ts) ----

  async #applyConnect(tunnelIP: string, sites: Site[]): Promise<boolean> {
    if (!parseCidr(tunnelIP) || !tunnelIP.includes("/")) {
      this.#log.warn("the hub sent an invalid tunnel address", { tunnelIP });
      return false;
    }
    const device = this.#device;
    if (device.hasTunnel && device.tunnelIP !== tunnelIP) await device.closeTunnel();
    const reused = device.hasTunnel;
    if (!device.hasTunnel) {
      try {
        await device.openTunnel(tunnelIP, () => this.#ws?.close(1000, "tunnel lost"));
      } catch (error) {
        await this.#terminate(
          { code: "tunnel_failed", message: errorText(error) },
          "the tunnel interface could not be created",
        );
        return false;
      }
    }
    await device.syncPeers(sites);
    await device.peersChanged();
    // A re-registration on the same device: handshake at once (the hub may have restarted).
    if (reused) await device.restartHandshakes();
    await device.startProbes();
    this.#hubAddress = hubSiteAddress(sites, device.exitNode?.publicKey);
    if (!this.#hubAddress) {
      this.#log.warn("no site of the registration is the hub's; PROXY headers are refused");
    }
    this.#registered = true;
    this.#registrations++;
    // A TLS problem reported while retrying is over once registered.
    if (this.#error?.code.startsWith("tls")) this.#error = undefined;
    this.#log.info("registered with the hub", { tunnelIP, sites: sites.length });
    const event: RegisteredEvent = {
      tunnelIP,
      registrations: this.#registrations,
      hubAddress: this.#hubAddress,
    };
    for (const listener of this.#listeners) {
      // Not awaited: a listener that sends requests needs this queue free for the answers.
      Promise.resolve().then(() => listener(event)).catch((error) =>
        this.#log.error("a registration hook failed", { error: errorText(error) })
      );
    }
    return true;
  }

  // ---- endings ----

  /** Ends the session for good; `why` says which party ended it, for the log. */
  async #terminate(error: SessionError, why = "the hub ended the session"): Promise<void> {
    if (this.#terminated) return;
    this.#terminated = true;
    this.#error = error;
    this.#log.error(why, { code: error.code, message: error.message });
    this.#wakeSleep?.();
    this.#ws?.close(1000, "terminated");
    await this.#teardown();
  }

  /** Closes probes and the device (interface and its routes). */
  async #teardown(): Promise<void> {
    await this.#device.teardown();
    this.#registered = false;
  }
}
