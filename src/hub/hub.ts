// The running hub: opens the store, brings up the WireGuard device with one peer per
// registered agent, starts ingress, the port-map service, the RTT probe responder and the
// control endpoint, and follows changes other processes make to the store (client remove).

import type { Device, DeviceOptions } from "../tun/mod.ts";
import { generatePrivateKey, keyFromBase64, keyToBase64 } from "../curve25519/mod.ts";
import { parseCidr, startMemoryTrim } from "../net/mod.ts";
import { log } from "../log/mod.ts";
import type { SiteConfig } from "../protocol/mod.ts";
import { HubStore, hubTunnelAddress } from "./client_store.ts";
import { HubControl } from "./control_plane.ts";
import { ControlListener } from "./control_listener.ts";
import type { LoginGateOptions } from "./login_gate.ts";
import { WS_PATH } from "../protocol/mod.ts";
import { type AgentDialer, dialThroughTunnel, Ingress } from "./ingress_listeners.ts";
import { buildRoutes, type RouteTable } from "./route_table.ts";
import { HubMetrics } from "./hub_metrics.ts";
import { type MutualTlsFront, startMutualTlsFront } from "./mutual_tls_front.ts";
import { PortMapService } from "./portmap.ts";
import { type ProbeResponder, startProbeResponder, testRequestResponder } from "./probe_answer.ts";
import { ResourceService } from "./resource_service.ts";

/** Makes the hub's tunnel device (burrow's own, wireguard-go, or a fake in tests). */
export type TunnelFactory = (options: DeviceOptions) => Promise<Device>;

export interface HubConfig {
  stateDir: string;
  /** Control endpoint (login + WebSocket). */
  listen: { hostname: string; port: number };
  /** Host agents and internet clients use; goes into `sites[].endpoint`. */
  publicHost: string;
  /**
   * PEM certificate and key of the control endpoint; with `clientCa`, agents must present a
   * client certificate that CA signed.
   */
  tls?: { cert: string; key: string; clientCa?: string };
  wgPort: number;
  tunnelCidr: string;
  portRange: { first: number; last: number };
  /** 0 picks a free port (tests). */
  httpPort: number;
  httpsPort: number;
  tunnel: TunnelFactory;
  /** @default "burrowhub0" */
  interfaceName?: string;
  /** Public listeners bind this. @default "::" (dual stack), or "0.0.0.0" without IPv6 */
  ingressHost?: string;
  /** Start the port-map service and probe responder on the tunnel address. @default true */
  tunnelServices?: boolean;
  /** Seam for tests without a tunnel. @default dial the tunnel address */
  dial?: AgentDialer;
  tokenTtlMs?: number;
  maxFrameBytes?: number;
  /** How often to look for changes by other processes. @default 250 */
  watchIntervalMs?: number;
  /** Ports one agent may hold (`--ports-per-agent`). @default 100 */
  portsPerAgent?: number;
  /** Networks port maps may never reach, besides the hub's own (`--portmap-deny`). */
  portmapDeny?: string[];
  /** Control port: how long a connection may take to send its request. @default 10_000 */
  controlHeadTimeoutMs?: number;
  /** Control port: connections of one address still in their opening. @default 256 */
  controlOpeningPerAddress?: number;
  /** The slow login queue's limits (`--logins-per-address`). */
  loginGate?: LoginGateOptions;
  /** Lifetime of a resumption credential after its agent was last connected. */
  resumeTtlMs?: number;
  /** UDP port relaying WireGuard between agents (the CLI's default is 21820). @default 0 (free) */
  relayPort?: number;
  /** Serve Prometheus metrics at `GET /metrics` here (`--metrics-addr`); port 0 picks one. */
  metrics?: { hostname: string; port: number };
}

/** Default of `--ports-per-agent`. */
export const DEFAULT_PORTS_PER_AGENT = 100;
/** How often connected agents' resumption credentials are kept alive. */
const RESUME_KEEPALIVE_MS = 60_000;

const SITE_ID = 1;
const UTILITY_SUBNET = "100.96.128.0/24";
const PRIVATE_KEY_SETTING = "wg_private_key";
const DEVICE_START_TIMEOUT_MS = 20_000;
/** How often the hub makes sure the kernel still does not forward between agents. */
const FORWARDING_GUARD_MS = 2_000;

/** A started hub; `close()` stops everything it started. */
export class Hub {
  readonly store: HubStore;
  readonly control: HubControl;
  readonly ingress: Ingress;
  readonly device: Device;
  readonly resources: ResourceService;
  readonly hubTunnelIP: string;
  #routes: RouteTable;
  /** The store changed since `#routes` was built; the next reader rebuilds it. */
  #routesStale = false;
  #server: ControlListener | null = null;
  #resumeTimer: ReturnType<typeof setInterval> | undefined;
  #stopTrim: () => void = () => {};
  #tlsFront: MutualTlsFront | null = null;
  /** The private directory of the control listener's Unix socket behind the TLS front. */
  #frontDir: string | null = null;
  #portMaps: PortMapService | null = null;
  #probe: ProbeResponder | null = null;
  #watchTimer: ReturnType<typeof setInterval> | undefined;
  #guardTimer: ReturnType<typeof setInterval> | undefined;
  #dataVersion = 0;
  /** Peer keys installed on the device, by client id. */
  readonly #peers = new Map<string, string>();
  #httpPort = 0;
  #httpsPort = 0;
  readonly metrics: HubMetrics;
  #metricsPort = 0;
  #reconciling: Promise<void> = Promise.resolve();

  private constructor(
    readonly config: HubConfig,
    store: HubStore,
    device: Device,
    resources: ResourceService,
  ) {
    this.store = store;
    this.device = device;
    this.resources = resources;
    this.hubTunnelIP = hubTunnelAddress(config.tunnelCidr);
    this.#routes = buildRoutes(store);
    this.metrics = new HubMetrics({
      onlineAgents: () => this.control.connected(),
      device: () => this.device,
    });
    this.ingress = new Ingress({
      counters: this.metrics,
      routes: () => this.routes,
      dial: config.dial ?? dialThroughTunnel,
      listenHost: config.ingressHost,
    });
    this.control = new HubControl({
      store,
      resources,
      site: () => this.site(),
      tunnelCidr: config.tunnelCidr,
      hubTunnelIP: this.hubTunnelIP,
      utilitySubnet: UTILITY_SUBNET,
      portRange: config.portRange,
      attachPeer: (key, ip, previous) => this.#attachPeer(key, ip, previous),
      openPort: (port) => this.ingress.openPort(port),
      closePort: (port) => this.ingress.closePort(port),
      ingressChanged: () => this.#markRoutesStale(),
      portsPerAgent: config.portsPerAgent ?? DEFAULT_PORTS_PER_AGENT,
    }, {
      tokenTtlMs: config.tokenTtlMs,
      maxFrameBytes: config.maxFrameBytes,
      // Behind the client-certificate front every caller is loopback: no per-address limit.
      loginGate: config.tls?.clientCa
        ? { ...config.loginGate, perAddress: Infinity }
        : config.loginGate,
      resumeTtlMs: config.resumeTtlMs,
    });
    resources.attach(this.control);
  }

  /**
   * Starts every part of the hub. On failure, whatever was started is stopped again.
   *
   * @throws {Error} when the device, a listener or the store cannot be set up
   */
  static async start(config: HubConfig): Promise<Hub> {
    const network = parseCidr(config.tunnelCidr);
    if (!network || network.bytes.length !== 4) {
      throw new TypeError(
        `Cannot start hub: IPv4 tunnel CIDR expected, received ${config.tunnelCidr}`,
      );
    }
    const store = HubStore.open(config.stateDir);
    // Sessions do not survive a hub: whatever a crashed run left online is not.
    store.markAllOffline();
    let device: Device | null = null;
    let resources: ResourceService | null = null;
    let hub: Hub | null = null;
    try {
      let privateKey = keyFromBase64(store.setting(PRIVATE_KEY_SETTING) ?? "");
      if (!privateKey) {
        privateKey = generatePrivateKey();
        store.setSetting(PRIVATE_KEY_SETTING, keyToBase64(privateKey));
      }
      device = await withDeadline(
        config.tunnel({
          name: config.interfaceName ?? "burrowhub0",
          listenPort: config.wgPort,
          privateKey,
          onForeignDatagram: testRequestResponder(() => device),
        }),
        DEVICE_START_TIMEOUT_MS,
        "the WireGuard device did not come up",
      );
      const hubDevice = device;
      resources = await ResourceService.start({
        stateDir: config.stateDir,
        store,
        publicHost: config.publicHost,
        relayPort: config.relayPort ?? 0,
        hubPrivateKey: privateKey,
        agents: async () =>
          (await hubDevice.peers()).map((peer) => ({
            publicKey: keyToBase64(peer.publicKey),
            endpoint: peer.endpoint,
          })),
      });
      hub = new Hub(config, store, device, resources);
      await hub.#startParts();
      return hub;
    } catch (error) {
      if (hub) await hub.close();
      else {
        await resources?.close();
        await device?.close().catch(() => {});
        store.close();
      }
      throw error;
    }
  }

  async #startParts(): Promise<void> {
    const { config } = this;
    const bits = config.tunnelCidr.split("/")[1];
    await this.device.addAddress(`${this.hubTunnelIP}/${bits}`);
    await refuseForwarding(this.device.name);
    // 1. Peers of every agent that ever registered: traffic flows before they reconnect.
    for (const client of this.store.listClients()) {
      if (client.publicKey && client.tunnelIP) {
        await this.#attachPeer(client.publicKey, client.tunnelIP, null);
        this.#peers.set(client.id, client.publicKey);
      }
    }
    // 2. Public listeners: allocated ports, HTTP, HTTPS.
    for (const { port } of this.store.allPorts()) {
      if (!this.ingress.openPort(port)) log.warn("allocated port stays closed", { port });
    }
    this.#httpPort = this.ingress.listenHttp(config.httpPort);
    this.#httpsPort = this.ingress.listenHttps(config.httpsPort);
    // 3. Services inside the tunnel.
    if (config.tunnelServices ?? true) {
      this.#portMaps = new PortMapService({
        hostname: this.hubTunnelIP,
        routes: () => this.routes,
        tunnelNetwork: parseCidr(config.tunnelCidr)!,
        deny: (config.portmapDeny ?? []).map((text) => {
          const network = parseCidr(text);
          if (!network) throw new TypeError(`Cannot deny port maps to ${text}: not a CIDR`);
          return network;
        }),
        dialAgent: config.dial ?? dialThroughTunnel,
        counters: this.metrics,
      });
      this.#probe = await startProbeResponder(this.hubTunnelIP, this.device.listenPort + 1);
    }
    // 4. Control endpoint. With client certificates required, a TLS front does the TLS and
    // hands each connection, behind a PROXY v2 header naming the client, to the listener's Unix
    // socket in a directory only this user can enter (makeTempDir: mode 0700).
    const front = config.tls?.clientCa ? config.tls : undefined;
    if (front) this.#frontDir = await Deno.makeTempDir({ prefix: "burrow-hub-control-" });
    const frontedPath = this.#frontDir ? `${this.#frontDir}/control.sock` : undefined;
    this.#server = new ControlListener({
      hostname: config.listen.hostname,
      port: config.listen.port,
      frontedPath,
      tls: config.tls && !front ? { cert: config.tls.cert, key: config.tls.key } : undefined,
      webSocketPath: WS_PATH,
      onRequest: this.control.handler,
      onUpgrade: this.control.upgrade,
      maxMessageBytes: this.control.maxFrameBytes,
      headTimeoutMs: config.controlHeadTimeoutMs,
      maxOpeningPerAddress: config.controlOpeningPerAddress,
    });
    if (front && frontedPath) {
      this.#tlsFront = await startMutualTlsFront({
        ...config.listen,
        cert: front.cert,
        key: front.key,
        clientCa: front.clientCa!,
        backendPath: frontedPath,
        handshakeTimeoutMs: config.controlHeadTimeoutMs,
      });
    }
    if (config.metrics) this.#metricsPort = await this.metrics.listen(config.metrics);
    this.#resumeTimer = setInterval(() => {
      this.control.keepResumptionsAlive().catch((error) =>
        log.warn("cannot keep resumption credentials alive", { error })
      );
    }, RESUME_KEEPALIVE_MS);
    this.#stopTrim = startMemoryTrim();
    // 5. Follow other processes' changes (burrow hub client remove).
    this.#dataVersion = this.store.dataVersion();
    this.#watchTimer = setInterval(() => {
      this.#reconciling = this.#reconciling.then(() => this.#reconcile()).catch((error) =>
        log.error("cannot apply store changes", { error })
      );
    }, config.watchIntervalMs ?? 250);
    this.#guardTimer = setInterval(() => {
      this.#reconciling = this.#reconciling.then(() => refuseForwarding(this.device.name));
    }, FORWARDING_GUARD_MS);
    log.info("hub started", {
      control: `${config.listen.hostname}:${this.controlPort}`,
      wgPort: this.device.listenPort,
      tunnelIP: this.hubTunnelIP,
      http: this.#httpPort,
      https: this.#httpsPort,
    });
  }

  get controlPort(): number {
    return this.#tlsFront?.port ?? this.#server?.port ?? 0;
  }
  /** The port of `GET /metrics`, 0 when not served. */
  get metricsPort(): number {
    return this.#metricsPort;
  }
  get httpPort(): number {
    return this.#httpPort;
  }
  get httpsPort(): number {
    return this.#httpsPort;
  }
  /** The routing table, rebuilt from the store on first use after a change. */
  get routes(): RouteTable {
    if (this.#routesStale) {
      this.#routesStale = false;
      this.#routes = buildRoutes(this.store);
    }
    return this.#routes;
  }

  /** The hub as the one site every agent connects to. */
  site(): SiteConfig {
    return {
      siteId: SITE_ID,
      name: "hub",
      endpoint: `${
        this.config.publicHost.includes(":")
          ? `[${this.config.publicHost}]`
          : this.config.publicHost
      }:${this.device.listenPort}`,
      publicKey: keyToBase64(this.device.publicKey),
      serverIP: this.hubTunnelIP,
      serverPort: this.device.listenPort,
      remoteSubnets: [],
      aliases: [],
    };
  }

  async #attachPeer(publicKey: string, tunnelIP: string, previousKey: string | null) {
    if (previousKey) {
      await this.device.removePeer(keyFromBase64(previousKey)!).catch(() => {});
    }
    await this.device.setPeer({
      publicKey: keyFromBase64(publicKey)!,
      allowedIps: [`${tunnelIP}/32`],
    });
    for (const [id, key] of this.#peers) if (key === previousKey) this.#peers.delete(id);
    const owner = this.store.clientByPublicKey(publicKey);
    if (owner) this.#peers.set(owner.id, publicKey);
  }

  /**
   * Marks the routes stale. Rebuilding reads every client's rules, so a storm of a thousand
   * registrations must not rebuild a thousand times: the next connection that routes does it.
   */
  #markRoutesStale(): void {
    this.#routesStale = true;
  }

  /** Applies what another process changed: removed clients lose session, peer and ports. */
  async #reconcile(): Promise<void> {
    const version = this.store.dataVersion();
    if (version === this.#dataVersion) return;
    this.#dataVersion = version;
    const clients = new Set(this.store.listClients().map((c) => c.id));
    for (const [id, key] of [...this.#peers]) {
      if (clients.has(id)) continue;
      this.#peers.delete(id);
      await this.device.removePeer(keyFromBase64(key)!).catch(() => {});
    }
    for (const id of this.control.connected()) {
      if (!clients.has(id)) {
        log.info("client removed: ending its session", { clientId: id });
        this.control.terminate(id, "this client was removed from the hub");
      }
    }
    const allocated = new Set(this.store.allPorts().map((p) => p.port));
    for (const port of this.ingress.openPorts()) {
      if (!allocated.has(port)) this.ingress.closePort(port);
    }
    this.#markRoutesStale();
    this.resources.changed();
  }

  /** Stops everything and closes the store. */
  async close(): Promise<void> {
    clearInterval(this.#watchTimer);
    clearInterval(this.#guardTimer);
    clearInterval(this.#resumeTimer);
    this.#stopTrim();
    await this.#reconciling;
    this.control.closeAll();
    await this.#tlsFront?.close();
    await this.#server?.close();
    if (this.#frontDir) await Deno.remove(this.#frontDir, { recursive: true }).catch(() => {});
    await this.metrics.close();
    await this.ingress.close();
    await this.#portMaps?.close();
    await this.#probe?.close();
    await this.resources.close();
    await this.device.close().catch(() => {});
    this.store.close();
  }
}

/**
 * Isolation: the kernel must never route a packet from one agent to another through the
 * hub's interface, whatever the host's forwarding setting says (writing `ip_forward=1` later
 * turns it on for every interface, so the hub checks again every few seconds).
 *
 * Through sysctl(8): Deno wants --allow-all to even stat files under /proc.
 */
async function refuseForwarding(interfaceName: string): Promise<void> {
  for (const family of ["ipv4", "ipv6"]) {
    const key = `net/${family}/conf/${interfaceName}/forwarding`;
    const current = await sysctl(["-n", key]);
    if (current.code !== 0) {
      // No such interface in /proc (a fake device in tests) or IPv6 switched off.
      log.debug("no forwarding setting for the tunnel interface", { key });
      continue;
    }
    if (current.output.trim() === "0") continue;
    const set = await sysctl(["-qw", `${key}=0`]);
    if (set.code === 0) log.info("forwarding turned off on the tunnel interface", { key });
    else log.warn("cannot turn off forwarding on the tunnel interface", { key, error: set.output });
  }
}

async function sysctl(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const result = await new Deno.Command("sysctl", { args, stdout: "piped", stderr: "piped" })
      .output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trim();
    return {
      code: result.code,
      output: result.code === 0 ? decode(result.stdout) : decode(result.stderr),
    };
  } catch (error) {
    return { code: -1, output: String(error) };
  }
}

/** Rejects with `message` when `promise` has not settled within `ms`: a hang becomes an error. */
function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
